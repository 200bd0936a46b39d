"""``resgen train``: test-train a generated network, exactly as ``resgen build`` writes it.

The spec is rendered with :func:`resgen.rendering.render.render`, written to ``OUT/model.py`` and
imported from there, so the code that trains is the code users vendor. Modules, one concern each:

- :mod:`~resgen.cli.train_command`: the click command; :mod:`~resgen.train.config`: the options, the
  paper's recipe, the torchrun world;
- :mod:`~resgen.train.session`: one run per spec, checked before anything is written;
  :mod:`~resgen.train.rundir`: which folders a run may write into;
- :mod:`~resgen.train.data`: the ``--data`` sources; :mod:`~resgen.train.batches`: which images
  make each step's batch, a pure function of (seed, step, rank);
- :mod:`~resgen.train.backend`: the seam, one ``Framework`` protocol (and the ``Trainer`` it
  builds) that :mod:`~resgen.train.torch_trainer` and :mod:`~resgen.train.keras_trainer`
  implement; :mod:`~resgen.train.frameworks` opens the one ``--backend`` names;
  :mod:`~resgen.train.torch_feed`: batches onto a torch device (DataLoader workers, or made on
  the device);
- :mod:`~resgen.train.loop`: the flat step loop both backends share (logging, data wait,
  checkpoints, Ctrl-C); :mod:`~resgen.train.schedule`: the learning-rate schedule;
  :mod:`~resgen.train.resume_state`: the run record a checkpoint carries, type-checked on resume;
- :mod:`~resgen.train.records` and :mod:`~resgen.train.progress`: metrics.jsonl, summary.json,
  curves, the progress line.

Only the two trainer modules and ``torch_feed`` import a framework, and only when a run starts.
"""
