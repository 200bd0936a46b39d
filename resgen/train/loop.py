"""The step loop both backends share: schedule, logging, checkpoints, Ctrl-C and resume.

A backend supplies a :class:`Trainer` (one step, fetching losses, collectives, checkpoint
files); everything about *when* things happen lives here, once. Losses stay on the device until
a sync point (a logging step, the end of a plateau window, a checkpoint), so a GPU is not
stalled every step. Every running sum the loop keeps is global (summed over torchrun ranks at
each sync point), so rank 0's checkpoint is valid for every rank.

Ctrl-C (SIGINT) or SIGTERM asks the loop to stop: it finishes the current step, saves a
checkpoint and raises :class:`Interrupted`. A single process stops after the current step;
under torchrun the ranks agree at the next logging step. A second Ctrl-C aborts at once.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import numpy as np

from resgen.train.config import World
from resgen.train.data import Batches
from resgen.train.records import MetricsLog
from resgen.train.schedule import Schedule


class Trainer(Protocol):
    """One framework's side of a run."""

    framework: str  # "torch 2.13.0", "keras 3.15.1 (tensorflow 2.21.0)"
    device: str  # what ran it, in words: "cpu (2 threads)", "cuda:0 (NVIDIA H100 ...)"
    params: int  # trainable parameters
    checkpoint_name: str

    def train_step(self, images: np.ndarray, labels: np.ndarray, lr: float) -> Any:
        """One SGD step; returns this rank's (loss, correct) without waiting for the device."""
        ...

    def fetch(self, pending: list[Any]) -> list[tuple[float, float, int]]:
        """Wait for steps' results: (mean loss, correct, images) each, this rank's share."""
        ...

    def all_sum(self, values: list[float]) -> list[float]:
        """Sum over torchrun ranks (identity in a single process)."""
        ...

    def evaluate(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[float, int]:
        """Eval-mode (summed loss, correct) over this rank's share of the held-out split."""
        ...

    def save(self, path: Path, meta: dict[str, Any]) -> None:
        """Write a checkpoint atomically (rank 0 writes; every rank returns after it exists)."""
        ...

    def load(self, path: Path) -> dict[str, Any]:
        """Restore model, optimizer and RNG states; return the loop's ``meta``."""
        ...

    def weight_digests(self) -> list[str]:
        """sha256 of every rank's weights and buffers (rank 0 gets all; others may get [])."""
        ...


class Interrupted(Exception):
    """The run stopped on a signal after saving a checkpoint."""

    def __init__(self, step: int) -> None:
        super().__init__(f"interrupted after step {step}")
        self.step = step


class Diverged(Exception):
    """The training loss stopped being a finite number."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(f"the training loss is {loss} at step {step}")
        self.step = step
        self.loss = loss


@dataclass
class LoopState:
    """Where a run is: saved in every checkpoint, so a resumed run logs as if never stopped."""

    step: int = 0
    first_loss: float | None = None
    window_loss: float = 0.0  # summed over images since the last logging step
    window_correct: float = 0.0
    window_count: int = 0
    plateau_loss: float = 0.0  # summed over images since the last plateau window ended
    plateau_count: int = 0
    images: int = 0
    timed_images: int = 0  # images trained after each part's first sync (warm-up excluded)
    train_seconds: float = 0.0
    wall_seconds: float = 0.0  # of the parts before this one
    resumed_at: list[int] = field(default_factory=list)
    last_accuracy: float | None = None
    last_loss: float | None = None

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> LoopState:
        return cls(**meta)

    def meta(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Cadence:
    total_steps: int
    log_every: int
    checkpoint_every: int


class StopRequest:
    """SIGINT/SIGTERM set a flag instead of raising mid-step; a second signal aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self._restore()  # the next Ctrl-C raises KeyboardInterrupt as usual

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __exit__(self, *exc: object) -> None:
        self._restore()


Report = Callable[[dict[str, Any]], None]


def run(
    trainer: Trainer,
    batches: Batches,
    schedule: Schedule,
    cadence: Cadence,
    state: LoopState,
    world: World,
    checkpoint: Callable[[LoopState], None],
    log: MetricsLog | None,
    report: Report,
) -> LoopState:
    """Train from ``state.step`` to ``cadence.total_steps``; checkpoint at the end."""
    started = window_started = time.perf_counter()  # this part (since the last checkpoint)
    clock: float | None = None  # from this part's first sync: warm-up steps are not timed
    timed_from = state.images
    pending: list[Any] = []

    def sync(done: int) -> None:
        """Fetch pending results and fold them, summed over ranks, into the running sums."""
        nonlocal clock, timed_from
        results = trainer.fetch(pending)
        pending.clear()
        first = results[0] if state.first_loss is None and results else (0.0, 0.0, 0)
        local = [
            sum(loss * n for loss, _, n in results),
            sum(correct for _, correct, _ in results),
            sum(n for _, _, n in results),
            first[0] * first[2],
            first[2],
        ]
        loss, correct, count, first_loss, first_count = trainer.all_sum(local)
        if not math.isfinite(loss):
            raise Diverged(done, loss)
        if state.first_loss is None and first_count:
            state.first_loss = first_loss / first_count
        state.window_loss += loss
        state.window_correct += correct
        state.window_count += int(count)
        state.plateau_loss += loss
        state.plateau_count += int(count)
        state.images += int(count)
        if clock is None:
            clock, timed_from = time.perf_counter(), state.images

    def write_log(done: int, lr: float) -> None:
        nonlocal window_started
        now = time.perf_counter()
        mean_loss = state.window_loss / max(state.window_count, 1)
        accuracy = state.window_correct / max(state.window_count, 1)
        record = {
            "step": done,
            "epoch": round(done / batches.steps_per_epoch, 4),
            "loss": mean_loss,
            "accuracy": accuracy,
            "lr": lr,
            "images_per_second": state.window_count / max(now - window_started, 1e-9),
            "seconds": round(state.wall_seconds + now - started, 3),
        }
        state.last_loss, state.last_accuracy = mean_loss, accuracy
        state.window_loss = state.window_correct = 0.0
        state.window_count = 0
        window_started = now
        if log is not None:
            log.append(record)
        report(record)

    def close_timing() -> None:
        """Fold the time so far into the state (before a checkpoint saves it)."""
        nonlocal clock, timed_from, started
        now = time.perf_counter()
        if clock is not None:
            state.train_seconds += now - clock
            state.timed_images += state.images - timed_from
            clock, timed_from = now, state.images
        state.wall_seconds += now - started
        started = now

    total = cadence.total_steps
    with StopRequest() as stop, ThreadPoolExecutor(max_workers=1) as pool:
        upcoming: Future[tuple[np.ndarray, np.ndarray]] | None = None
        if state.step < total:
            upcoming = pool.submit(batches.train, state.step)
        while state.step < total:
            assert upcoming is not None
            images, labels = upcoming.result()
            step = state.step
            if step + 1 < total:
                upcoming = pool.submit(batches.train, step + 1)
            lr = schedule.lr(step)
            pending.append(trainer.train_step(images, labels, lr))
            done = state.step = step + 1
            log_now = done == 1 or done % cadence.log_every == 0 or done == total
            window_now = done % schedule.window == 0
            checkpoint_now = done % cadence.checkpoint_every == 0 and done < total
            stop_now = stop.requested and not world.distributed
            if log_now or window_now or checkpoint_now or stop_now:
                sync(done)
            if log_now:
                write_log(done, lr)
                if world.distributed:
                    stop_now = trainer.all_sum([float(stop.requested)])[0] > 0
            if window_now:
                schedule.observe(state.plateau_loss / max(state.plateau_count, 1))
                state.plateau_loss, state.plateau_count = 0.0, 0
            if stop_now or done == total or checkpoint_now:
                close_timing()
                checkpoint(state)
                if stop_now and done < total:
                    raise Interrupted(done)
    return state
