"""One ``resgen train`` invocation: check everything, then train each spec in turn.

Every user error (a spec, ``--data``, a device, a batch that does not fit, a checkpoint that
does not match) is found before the first file is written. One spec trains into ``OUT``
(default ``runs/<name>``); several train into ``OUT/<name>`` (default ``runs/<name>``) with the
same budget: seed, data, batch and steps.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from resgen.files import write_atomic
from resgen.render import spec_digest
from resgen.spec import Spec
from resgen.train import data as datasets
from resgen.train import records
from resgen.train.config import RESUME_KEYS, TrainConfig, World, option_error
from resgen.train.generated import import_file, model_text
from resgen.train.loop import Cadence, LoopState, Trainer, run
from resgen.train.schedule import Schedule
from resgen.validate import load_specs

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
    batches: datasets.Batches
    stats: tuple[tuple[float, ...], tuple[float, ...]]
    key: dict[str, Any]  # what --resume must find unchanged
    resume: bool


def folders(specs: Sequence[Spec], out: Path | None) -> list[Path]:
    if len(specs) == 1:
        return [out if out is not None else RUNS / specs[0].name]
    return [(out if out is not None else RUNS) / spec.name for spec in specs]


def prepare(
    paths: Sequence[Path], config: TrainConfig, out: Path | None, world: World
) -> tuple[list[Job], Any, Any]:
    """Check every input; return the jobs, the backend module and its device."""
    loaded = load_specs(paths)
    arg = datasets.parse(config.data)
    cache: dict[tuple[int, int, int], datasets.Dataset] = {}
    jobs: list[Job] = []
    for (spec_path, spec), folder in zip(loaded, folders([s for _, s in loaded], out), strict=True):
        shape = (spec.input.size, spec.input.channels, spec.num_classes)
        if shape not in cache:
            cache[shape] = datasets.load(arg, *shape, seed=config.seed)
        dataset = cache[shape]
        augment = dataset.augment if config.augment is None else config.augment
        batches = datasets.Batches(
            dataset, config.batch_size, config.seed, augment, world.rank, world.size
        )
        text = model_text(spec_path, spec, config.backend)
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
        stats = datasets.channel_stats(dataset)
        jobs.append(Job(spec_path, spec, folder, text, batches, stats, key, config.resume))
    backend = _backend(config.backend)  # the framework import comes after the cheap checks
    device = backend.pick_device(config.device, world)
    if config.resume:
        _check_resume(jobs, config, backend)
    return jobs, backend, device


def _backend(name: str) -> Any:
    if name == "torch":
        from resgen.train import torch_trainer

        return torch_trainer
    from resgen.train import keras_trainer

    return keras_trainer


def _check_resume(jobs: list[Job], config: TrainConfig, backend: Any) -> None:
    """Each checkpoint must come from the same run (spec, data, batch, rate, seed, ...). A spec
    without one starts afresh, unless none has one (a mistyped ``--out``)."""
    for job in jobs:
        job.resume = (job.folder / backend.CHECKPOINT).is_file()
    if not any(job.resume for job in jobs):
        where = ", ".join(str(job.folder / backend.CHECKPOINT) for job in jobs)
        raise option_error("--resume", f"no checkpoint to resume from ({where} not found)")
    for job in jobs:
        if not job.resume:
            continue
        path = job.folder / backend.CHECKPOINT
        meta = backend.read_meta(path)
        stored = meta.get("run", {})
        at = int(meta.get("state", {}).get("step", 0))
        total = config.total_steps(job.batches.steps_per_epoch)
        if at > total:
            raise option_error(
                "--resume", f"{path} is at step {at}, past the {total} steps this run asks for"
            )
        for name in RESUME_KEYS:
            if stored.get(name) != job.key[name]:
                raise option_error(
                    "--resume",
                    f"{path} was made with {name} {stored.get(name)!r}, this run has "
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
    jobs, backend, device = prepare(paths, config, out, world)
    if config.backend == "torch":
        backend.start_world(world, device)
    try:
        summaries = [train_one(job, config, backend, device, world, console) for job in jobs]
    finally:
        if config.backend == "torch":
            backend.stop_world()
    if plot is not None and world.is_main:
        records.plot_overlay(
            plot, [(s, job.folder) for s, job in zip(summaries, jobs, strict=True)]
        )
        console.print(f"wrote {plot}")
    return summaries


def _trainer(job: Job, config: TrainConfig, backend: Any, device: Any, world: World) -> Trainer:
    module = import_file(job.folder / records.MODEL, job.spec.name)
    factory = getattr(module, job.spec.name)
    dataset = job.batches.data
    if config.backend == "torch":
        return backend.TorchTrainer(  # type: ignore[no-any-return]
            factory, dataset.num_classes, job.stats, config, world, device
        )
    shape = (dataset.size, dataset.size, dataset.channels)
    return backend.KerasTrainer(  # type: ignore[no-any-return]
        factory, dataset.num_classes, shape, job.stats, config, device
    )


def _start_folder(job: Job, world: World) -> None:
    """Write the model file; a fresh run also clears an earlier run's files."""
    if not world.is_main:
        return
    job.folder.mkdir(parents=True, exist_ok=True)
    if not job.resume:
        for name in (*CHECKPOINTS, records.SUMMARY, records.CURVES):
            (job.folder / name).unlink(missing_ok=True)
    write_atomic(job.folder / records.MODEL, job.text)


def train_one(
    job: Job, config: TrainConfig, backend: Any, device: Any, world: World, console: Console
) -> dict[str, Any]:
    _start_folder(job, world)
    if config.backend == "torch":
        backend.barrier(world)
    trainer = _trainer(job, config, backend, device, world)
    batches = job.batches
    total = config.total_steps(batches.steps_per_epoch)
    schedule = Schedule.create(config.schedule, config.base_lr, total, batches.steps_per_epoch)
    path = job.folder / trainer.checkpoint_name
    state = LoopState()
    if job.resume:
        meta = trainer.load(path)
        state = LoopState.from_meta(meta["state"])
        schedule.load(meta["schedule"])
        state.resumed_at.append(state.step)
    log = None
    if world.is_main:
        log = records.MetricsLog(job.folder / records.METRICS, state.step if job.resume else None)

    def checkpoint(current: LoopState) -> None:
        trainer.save(path, {"state": current.meta(), "schedule": schedule.state(), "run": job.key})

    if world.is_main:
        what = "resuming" if job.resume else "training"
        console.print(
            f"{what} {job.spec.name} at step {state.step}/{total}: {trainer.framework} on "
            f"{trainer.device}, data {config.data}, batch {config.batch_size}, "
            f"lr {config.base_lr:g} ({config.schedule}), seed {config.seed}"
            + (f", {world.size} processes" if world.distributed else "")
            + f" -> {job.folder}"
        )
    cadence = Cadence(total, config.log_every, config.checkpoint_every)
    with _progress(console, job.spec.name, total, state.step, world) as report:
        state = run(trainer, batches, schedule, cadence, state, world, checkpoint, log, report)
    started = time.perf_counter()
    test_loss, test_correct = trainer.evaluate(batches.test(EVAL_BATCH))
    count = len(batches.data.labels("test"))
    test_loss, test_correct = trainer.all_sum([test_loss, float(test_correct)])
    digests = trainer.weight_digests()
    summary: dict[str, Any] = {
        "name": job.spec.name,
        "spec": str(job.spec_path),
        "shortcut": job.spec.shortcut,
        "backend": config.backend,
        "framework": trainer.framework,
        "device": trainer.device,
        "world_size": world.size,
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
        "amp": bool(getattr(trainer, "amp", False)),
        "channels_last": bool(getattr(trainer, "channels_last", config.backend == "keras")),
        "compile": config.compile,
        "first_loss": state.first_loss,
        "final_loss": state.last_loss,
        "final_accuracy": state.last_accuracy,
        "test_loss": test_loss / count if count else None,
        "test_accuracy": test_correct / count if count else None,
        "test_images": count,
        "images_per_second": state.timed_images / state.train_seconds
        if state.train_seconds
        else None,
        "wall_seconds": round(state.wall_seconds, 3),
        "eval_seconds": round(time.perf_counter() - started, 3),
        "resumed_at": state.resumed_at,
        "weights_sha256": digests[0],
        "status": "completed",
    }
    if world.distributed:
        summary["replica_weights_sha256"] = digests
    if world.is_main:
        records.write_summary(job.folder, summary)
        records.plot_curves(job.folder, summary)
        console.print(_result_line(summary))
    return summary


def _result_line(s: dict[str, Any]) -> str:
    test = "" if s["test_accuracy"] is None else f", test accuracy {s['test_accuracy']:.3f}"
    speed = "" if s["images_per_second"] is None else f", {s['images_per_second']:.0f} images/s"
    return (
        f"{s['name']}: loss {s['first_loss']:.3f} -> {s['final_loss']:.3f}, train accuracy "
        f"{s['final_accuracy']:.3f}{test}{speed}, {s['wall_seconds']:.1f} s"
    )


class _progress:
    """A rich progress bar (rank 0 only); without a terminal, one plain line per log step."""

    def __init__(self, console: Console, name: str, total: int, start: int, world: World) -> None:
        self.console, self.name, self.total, self.start = console, name, total, start
        self.enabled = world.is_main
        self.bar: Progress | None = None

    def __enter__(self) -> Any:
        if self.enabled and self.console.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("acc {task.fields[accuracy]}"),
                TextColumn("{task.fields[speed]} img/s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.bar.start()
            self.task = self.bar.add_task(
                self.name, total=self.total, completed=self.start, loss="-", accuracy="-", speed="-"
            )
        return self.report

    def report(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        loss, accuracy = f"{record['loss']:.4f}", f"{record['accuracy']:.3f}"
        speed = f"{record['images_per_second']:.0f}"
        if self.bar is not None:
            self.bar.update(
                self.task, completed=record["step"], loss=loss, accuracy=accuracy, speed=speed
            )
        else:
            self.console.print(
                f"{self.name} step {record['step']}/{self.total}: loss {loss}, "
                f"accuracy {accuracy}, lr {record['lr']:.4g}, {speed} images/s",
                highlight=False,
            )

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
