"""``resgen train``: test-train a generated network, exactly as ``resgen build`` writes it.

The spec is rendered with :func:`resgen.render.render`, written to ``OUT/model.py`` and imported
from there, so the code that trains is the code users vendor. Modules, one concern each:

- :mod:`~resgen.train.config`: the options, the paper's recipe, the torchrun world;
- :mod:`~resgen.train.data`: the ``--data`` sources and deterministic, resumable batches (numpy);
- :mod:`~resgen.train.schedule`: the learning-rate schedule (plateau or step), framework-free;
- :mod:`~resgen.train.loop`: the step loop shared by both backends: logging, checkpoints,
  Ctrl-C, resume;
- :mod:`~resgen.train.torch_trainer` and :mod:`~resgen.train.keras_trainer`: one step, one
  checkpoint, one evaluation in each framework;
- :mod:`~resgen.train.records`: metrics.jsonl, summary.json, curves, atomic files;
- :mod:`~resgen.train.session`: one run per spec, and the overlay figure;
- :mod:`~resgen.train.cli`: the click command.

Only the two trainer modules import a framework, and only when a run starts.
"""
