"""One ``resgen train`` invocation: check everything, then train each spec in turn.

Every user error (a spec, ``--data``, a device, a batch that does not fit, a run folder that is
not resgen's, a checkpoint that does not match) is found before the first file is written. One
spec trains into ``OUT`` (default ``runs/<name>``); several train into ``OUT/<name>`` (default
``runs/<name>``) with the same budget: seed, data, batch and steps.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from resgen.check.validate import load_all_planned
from resgen.files import write_atomic
from resgen.rendering.generated import import_file, model_text
from resgen.rendering.render import spec_digest
from resgen.spec.models import Spec
from resgen.spec.pretrained import preprocessing
from resgen.train import data as datasets
from resgen.train import records, resume_state, rundir
from resgen.train.backend import Framework, ModelInputs, Trainer
from resgen.train.batches import Batches, channel_stats
from resgen.train.config import RESUME_KEYS, TrainConfig, World, option_error, workers_for
from resgen.train.frameworks import open_framework
from resgen.train.loop import Cadence, run
from resgen.train.progress import Progress, result_line
from resgen.train.resume_state import LoopState
from resgen.train.schedule import Schedule

RUNS = Path("runs")
EVAL_BATCH = 256
CHECKPOINTS = ("checkpoint.pt", "checkpoint.npz")


@dataclass(eq=False)
class Job:
    """One spec's run, fully checked, nothing written yet."""

    spec_path: Path
    spec: Spec
    folder: Path
    text: str
    batches: Batches
    inputs: ModelInputs
    key: dict[str, Any]  # what --resume must find unchanged
    resume: bool


def folders(specs: Sequence[Spec], out: Path | None) -> list[Path]:
    if len(specs) == 1:
        return [out if out is not None else RUNS / specs[0].name]
    return [(out if out is not None else RUNS) / spec.name for spec in specs]


def model_inputs(spec: Spec, dataset: datasets.Dataset) -> ModelInputs:
    """The data's shape and normalisation: the spec's ``pretrained`` section where it has one
    (what its weights expect), else the training images' own per-channel statistics."""
    pre = preprocessing(spec.pretrained, spec.input.size, spec.input.channels)
    stats = (pre.unit_mean, pre.unit_std) if pre.given else channel_stats(dataset)
    return ModelInputs(dataset.num_classes, spec.input.size, spec.input.channels, stats, pre.bgr)


def prepare(
    paths: Sequence[Path], config: TrainConfig, out: Path | None, world: World
) -> list[Job]:
    """Check every spec, the data and the run folders; nothing imports a framework here."""
    planned = load_all_planned(paths)
    loaded = [(path, p.spec) for path, p in planned]
    plans = [p.plan for _, p in planned]
    arg = datasets.parse(config.data)
    cache: dict[tuple[int, int, int], datasets.Dataset] = {}
    jobs: list[Job] = []
    places = zip(loaded, plans, folders([s for _, s in loaded], out), strict=True)
    for (spec_path, spec), plan, folder in places:
        shape = (spec.input.size, spec.input.channels, spec.num_classes)
        if shape not in cache:
            cache[shape] = datasets.load(arg, *shape, seed=config.seed)
        dataset = cache[shape]
        inputs = model_inputs(spec, dataset)
        augment = dataset.augment if config.augment is None else config.augment
        batches = Batches(dataset, config.batch_size, config.seed, augment, world.rank, world.size)
        config.check_length(batches.steps_per_epoch)
        text = model_text(spec_path, spec, config.backend, plan)
        key = {
            "spec_sha256": spec_digest(spec),
            "model_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "backend": config.backend,
            "data": config.data,
            "batch_size": config.batch_size,
            "lr": config.base_lr,
            "schedule": config.schedule,
            "seed": config.seed,
            "augment": augment,
            "world_size": world.size,
        }
        if not config.resume:
            rundir.check(folder, config.force)
        jobs.append(Job(spec_path, spec, folder, text, batches, inputs, key, config.resume))
    return jobs


def check_resume(jobs: list[Job], config: TrainConfig, framework: Framework) -> None:
    """Each checkpoint must come from the same run (spec, data, batch, rate, seed, ...). A spec
    without one starts afresh, in a folder that must then pass as a new run's, unless none has
    one (a mistyped ``--out``)."""
    for job in jobs:  # any entry counts: a FIFO or a link there is refused when read
        job.resume = os.path.lexists(job.folder / framework.checkpoint_name)
    if not any(job.resume for job in jobs):
        where = ", ".join(str(job.folder / framework.checkpoint_name) for job in jobs)
        raise option_error("--resume", f"no checkpoint to resume from ({where} not found)")
    for job in jobs:
        path = job.folder / framework.checkpoint_name
        if not job.resume:
            rundir.check(job.folder, force=False)
            continue
        meta = resume_state.parse(path, framework.read_meta(path))
        total = config.total_steps(job.batches.steps_per_epoch)
        if meta.state.step > total:
            raise option_error(
                "--resume",
                f"{path} is at step {meta.state.step}, past the {total} steps this run asks for",
            )
        for name in RESUME_KEYS:
            if meta.run.get(name) != job.key[name]:
                raise option_error(
                    "--resume",
                    f"{path} was made with {name} {meta.run.get(name)!r}, this run has "
                    f"{job.key[name]!r}; resume with the same settings or use another --out",
                )


def train_all(
    paths: Sequence[Path],
    config: TrainConfig,
    out: Path | None,
    plot: Path | None,
    console: Console,
) -> list[dict[str, Any]]:
    world = World.from_env()
    jobs = prepare(paths, config, out, world)
    framework = open_framework(config, world)  # the framework import comes after the cheap checks
    try:
        with rundir.lock([job.folder for job in jobs] if world.is_main else [], config.resume):
            if config.resume:
                check_resume(jobs, config, framework)
            summaries = [train_one(job, config, framework, world, console) for job in jobs]
    finally:
        framework.close()
    if plot is not None and world.is_main:
        records.plot_overlay(
            plot, [(s, job.folder) for s, job in zip(summaries, jobs, strict=True)]
        )
        console.print(f"wrote {plot}")
    return summaries


def start_folder(job: Job, world: World) -> None:
    """Claim the run folder and write the model file; a fresh run also clears an earlier
    run's files."""
    if not world.is_main:
        return
    rundir.claim(job.folder)
    if not job.resume:
        for name in (*CHECKPOINTS, records.SUMMARY, records.CURVES):
            (job.folder / name).unlink(missing_ok=True)
    write_atomic(job.folder / records.MODEL, job.text)


def build_trainer(job: Job, framework: Framework) -> Trainer:
    module = import_file(job.folder / records.MODEL, f"_resgen_train_{job.spec.name}")
    return framework.trainer(getattr(module, job.spec.name), job.inputs)


def train_one(
    job: Job, config: TrainConfig, framework: Framework, world: World, console: Console
) -> dict[str, Any]:
    start_folder(job, world)
    framework.barrier()
    trainer = build_trainer(job, framework)
    batches = job.batches
    total = config.total_steps(batches.steps_per_epoch)
    schedule = Schedule.create(config.schedule, config.base_lr, total, batches.steps_per_epoch)
    path = job.folder / framework.checkpoint_name
    state = _restore(job, trainer, schedule, path)
    workers = workers_for(config, world)
    metrics = None
    if world.is_main:
        keep = state.step if job.resume else None
        metrics = records.MetricsLog(job.folder / records.METRICS, keep)
        console.print(_start_line(job, config, trainer, state, total, world))

    def save(current: LoopState) -> None:
        trainer.save(path, resume_state.dump(current, schedule.state(), job.key))

    cadence = Cadence(
        total, config.log_every, config.checkpoint_every, schedule.window, batches.steps_per_epoch
    )
    feed = framework.feed(batches, state.step, total, workers)
    with (
        contextlib.closing(feed),
        Progress(console, job.spec.name, trainer.precision, total, state.step, world) as bar,
    ):

        def log(record: dict[str, Any]) -> None:
            if metrics is not None:
                metrics.append(record)
                bar.report(record)

        state = run(trainer, feed, schedule, cadence, state, world, save, log)
    summary = _summary(job, config, trainer, state, schedule, workers)
    summary.update(_evaluate(job, config, framework, trainer, workers))
    if world.is_main:
        records.write_summary(job.folder, summary)
        records.plot_curves(job.folder, summary)
        console.print(result_line(summary))
    return summary


def _restore(job: Job, trainer: Trainer, schedule: Schedule, path: Path) -> LoopState:
    """A resumed run's loop state (and its schedule's); a new run's is empty."""
    if not job.resume:
        return LoopState()
    meta = resume_state.parse(path, trainer.load(path))
    schedule.load(meta.schedule)
    meta.state.resumed_at.append(meta.state.step)
    return meta.state


def _start_line(
    job: Job, config: TrainConfig, trainer: Trainer, state: LoopState, total: int, world: World
) -> str:
    what = "resuming" if job.resume else "training"
    return (
        f"{what} {job.spec.name} at step {state.step}/{total}: {trainer.framework} on "
        f"{trainer.device}, {_arithmetic(trainer)}, data {config.data}, batch {config.batch_size}, "
        f"lr {config.base_lr:g} ({config.schedule}), seed {config.seed}"
        + (f", {world.size} processes" if world.distributed else "")
        + f" -> {job.folder}"
    )


def _arithmetic(trainer: Trainer) -> str:
    """``bf16, channels_last`` or ``float32``: what the steps compute in, in which layout."""
    return trainer.precision + (", channels_last" if trainer.channels_last else "")


def _evaluate(
    job: Job, config: TrainConfig, framework: Framework, trainer: Trainer, workers: int
) -> dict[str, Any]:
    """Eval-mode loss and accuracy on the held-out split (its first ``--eval-images``)."""
    started = time.perf_counter()
    limit = job.batches.test_count if config.eval_images is None else config.eval_images
    count = min(limit, job.batches.test_count)
    feed = framework.test_feed(job.batches, EVAL_BATCH, count, workers)
    with contextlib.closing(feed):
        loss, correct = trainer.evaluate(feed)
    loss, correct = trainer.all_sum([loss, float(correct)])
    return {
        "test_loss": loss / count if count else None,
        "test_accuracy": correct / count if count else None,
        "test_images": count,
        "eval_seconds": round(time.perf_counter() - started, 3),
    }


def _summary(
    job: Job,
    config: TrainConfig,
    trainer: Trainer,
    state: LoopState,
    schedule: Schedule,
    workers: int,
) -> dict[str, Any]:
    batches = job.batches
    seconds = state.train_seconds
    digests = trainer.weight_digests()
    summary: dict[str, Any] = {
        "name": job.spec.name,
        "spec": str(job.spec_path),
        "shortcut": job.spec.shortcut,
        "backend": config.backend,
        "framework": trainer.framework,
        "device": trainer.device,
        "world_size": batches.world,
        "data": config.data,
        "num_classes": batches.data.num_classes,
        "seed": config.seed,
        "params": trainer.params,
        "steps": state.step,
        "epochs": round(state.step / batches.steps_per_epoch, 4),
        "batch_size": config.batch_size,
        "lr": config.base_lr,
        "schedule": config.schedule,
        "final_lr": schedule.lr(max(state.step - 1, 0)),
        "augment": batches.augment,
        "amp": trainer.amp,
        "precision": trainer.precision,
        "channels_last": trainer.channels_last,
        "compile": config.compile,
        "workers": workers,
        "first_loss": state.first_loss,
        "final_loss": state.last_loss,
        "final_accuracy": state.last_accuracy,
        "images_per_second": state.timed_images / seconds if seconds else None,
        "data_wait_fraction": round(state.data_wait_seconds / seconds, 4) if seconds else None,
        "wall_seconds": round(state.wall_seconds, 3),
        "resumed_at": state.resumed_at,
        "weights_sha256": digests[0],
        "status": "completed",
    }
    if batches.world > 1:
        summary["replica_weights_sha256"] = digests
    return summary
