"""The step loop both backends share: schedule, logging, checkpoints, Ctrl-C and resume.

One flat loop: take the next batch from the feed, step, and at the steps the cadence names,
sync (fetch the pending losses), log, feed the plateau schedule, checkpoint. Losses stay on the
device until such a sync, so a GPU is not stalled every step. Every running sum is global
(summed over torchrun ranks at each sync), so rank 0's checkpoint is valid for every rank.

Time is split three ways: the whole part (wall), training time (from the part's first sync on,
so tracing, compilation and allocator warm-up are not timed), and, within training time, the
time the loop waited for its next batch: ``data_wait_fraction``.

Ctrl-C (SIGINT) or SIGTERM asks the loop to stop: it finishes the current step, saves a
checkpoint and raises :class:`Interrupted`. A single process stops after the current step;
under torchrun the ranks agree at the next logging step. A second Ctrl-C ends the process at
once and quietly (exit 130), also while the run is shutting down.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from resgen.train.backend import Trainer
from resgen.train.config import EXIT_INTERRUPTED, World
from resgen.train.resume_state import LoopState
from resgen.train.schedule import Schedule


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


@dataclass(frozen=True)
class Cadence:
    """When the loop logs, closes a plateau window and checkpoints."""

    total_steps: int
    log_every: int
    checkpoint_every: int
    window: int  # the schedule's plateau window, in steps
    steps_per_epoch: int

    def due(self, done: int) -> tuple[bool, bool, bool]:
        """(log, plateau window, checkpoint) after ``done`` steps; the final checkpoint is
        the loop's own."""
        log = done == 1 or done % self.log_every == 0 or done == self.total_steps
        checkpoint = done % self.checkpoint_every == 0 and done < self.total_steps
        return log, done % self.window == 0, checkpoint


class StopRequest:
    """SIGINT/SIGTERM set a flag instead of raising mid-step. Once one has, a second signal
    ends the process at once and quietly (exit 130), during the run and after it (while the
    checkpoint is saved, data workers are shut down, exit handlers run): the user asked twice."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            quit_now(signum, frame)
        self.requested = True

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __exit__(self, *exc: object) -> None:
        if self.requested and self._previous:
            for sig in self._previous:  # from now on the next signal is the second
                signal.signal(sig, quit_now)
            self._previous.clear()
        self._restore()


def quit_now(signum: int, frame: FrameType | None) -> None:
    """End the process at once, without tracebacks or exit handlers: exit status 130."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(EXIT_INTERRUPTED)


class Clock:
    """This part's wall time, its training time from the first sync on, and the time the loop
    spent waiting for batches; per logging window and for the whole run."""

    def __init__(self, state: LoopState) -> None:
        self.state = state
        self.part_started = self.window_started = time.perf_counter()
        self.timing_since: float | None = None
        self.timed_from = state.images
        self.wait = self.window_wait = 0.0

    def next_batch(self, feed: Iterator[Any]) -> Any:
        started = time.perf_counter()
        batch = next(feed)
        spent = time.perf_counter() - started
        self.window_wait += spent
        if self.timing_since is not None:
            self.wait += spent
        return batch

    def synced(self) -> None:
        """The first sync of a part starts training time."""
        if self.timing_since is None:
            self.timing_since, self.timed_from = time.perf_counter(), self.state.images

    def lap(self) -> tuple[float, float, float]:
        """The closing logging window's (images/s, data wait fraction), and the run's seconds."""
        now = time.perf_counter()
        seconds = max(now - self.window_started, 1e-9)
        lap = self.state.window_count / seconds, min(self.window_wait / seconds, 1.0)
        self.window_started, self.window_wait = now, 0.0
        return *lap, self.state.wall_seconds + now - self.part_started

    def close(self) -> None:
        """Fold the time so far into the state (before a checkpoint saves it)."""
        now = time.perf_counter()
        state = self.state
        if self.timing_since is not None:
            state.train_seconds += now - self.timing_since
            state.data_wait_seconds += self.wait
            state.timed_images += state.images - self.timed_from
            self.timing_since, self.timed_from, self.wait = now, state.images, 0.0
        state.wall_seconds += now - self.part_started
        self.part_started = now


def sync(state: LoopState, trainer: Trainer, pending: list[Any], done: int) -> None:
    """Fetch pending results and fold them, summed over ranks, into the running sums."""
    results = trainer.fetch(pending)
    pending.clear()
    first = results[0] if state.first_loss is None and results else (0.0, 0.0, 0)
    loss, correct, count, first_loss, first_count = trainer.all_sum(
        [
            sum(loss * n for loss, _, n in results),
            sum(correct for _, correct, _ in results),
            sum(n for _, _, n in results),
            first[0] * first[2],
            first[2],
        ]
    )
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


def log_record(state: LoopState, clock: Clock, lr: float, cadence: Cadence) -> dict[str, Any]:
    """A ``metrics.jsonl`` line for the window that ends now; the window starts afresh."""
    count = max(state.window_count, 1)
    speed, wait, seconds = clock.lap()
    state.last_loss, state.last_accuracy = state.window_loss / count, state.window_correct / count
    state.window_loss = state.window_correct = 0.0
    state.window_count = 0
    return {
        "step": state.step,
        "epoch": round(state.step / cadence.steps_per_epoch, 4),
        "loss": state.last_loss,
        "accuracy": state.last_accuracy,
        "lr": lr,
        "images_per_second": speed,
        "data_wait_fraction": round(wait, 4),
        "seconds": round(seconds, 3),
    }


def plateau_loss(state: LoopState) -> float:
    """The closing plateau window's mean loss; the window starts afresh."""
    mean = state.plateau_loss / max(state.plateau_count, 1)
    state.plateau_loss, state.plateau_count = 0.0, 0
    return mean


def run(
    trainer: Trainer,
    feed: Iterator[Any],
    schedule: Schedule,
    cadence: Cadence,
    state: LoopState,
    world: World,
    save: Callable[[LoopState], None],
    log: Callable[[dict[str, Any]], None],
) -> LoopState:
    """Train from ``state.step`` to ``cadence.total_steps``; checkpoint at the end."""
    clock = Clock(state)
    pending: list[Any] = []
    with StopRequest() as stop:
        while state.step < cadence.total_steps:
            batch = clock.next_batch(feed)
            lr = schedule.lr(state.step)
            pending.append(trainer.train_step(batch, lr))
            state.step += 1
            log_now, window_now, checkpoint_now = cadence.due(state.step)
            stop_now = stop.requested and not world.distributed
            if log_now or window_now or checkpoint_now or stop_now:
                sync(state, trainer, pending, state.step)
                clock.synced()
            if log_now:
                log(log_record(state, clock, lr, cadence))
                if world.distributed:
                    stop_now = trainer.all_sum([float(stop.requested)])[0] > 0
            if window_now:
                schedule.observe(plateau_loss(state))
            if stop_now or checkpoint_now or state.step == cadence.total_steps:
                clock.close()
                save(state)
                if stop_now and state.step < cadence.total_steps:
                    raise Interrupted(state.step)
    return state
