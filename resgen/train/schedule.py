"""The learning-rate schedule, framework-free so both backends follow the same one.

``plateau`` (default): the paper divides the rate by 10 "when the error plateaus". Here the
training loss is averaged over windows of one epoch (at least ``MIN_WINDOW`` steps); when
``PATIENCE`` windows in a row fail to beat the best window by ``THRESHOLD`` (relative), the rate
is divided by ``DIVISOR``, at most ``MAX_DROPS`` times (0.1 -> 0.01 -> 0.001, as in the paper).

``step``: divide by 10 at 50% and 75% of the run (the paper's 32k and 48k of 64k iterations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from resgen.train.config import ScheduleName
from resgen.train.resume_state import ScheduleState

DIVISOR = 10.0
MAX_DROPS = 2
MIN_WINDOW = 100
PATIENCE = 5
THRESHOLD = 0.01
MILESTONES = (0.5, 0.75)


@dataclass
class Schedule:
    """The rate for each step; ``observe`` feeds it each window's mean training loss."""

    kind: ScheduleName
    base_lr: float
    total_steps: int
    window: int
    drops: int = 0
    best: float = math.inf
    bad_windows: int = 0

    @classmethod
    def create(
        cls, kind: ScheduleName, base_lr: float, total_steps: int, steps_per_epoch: int
    ) -> Schedule:
        return cls(kind, base_lr, total_steps, window=max(steps_per_epoch, MIN_WINDOW))

    def lr(self, step: int) -> float:
        """The rate for 0-based ``step``."""
        if self.kind == "step":
            passed = sum(step >= int(m * self.total_steps) for m in MILESTONES)
            return self.base_lr / DIVISOR**passed
        return self.base_lr / DIVISOR**self.drops

    def observe(self, mean_loss: float) -> bool:
        """One plateau window's mean loss; True when it lowered the rate."""
        if self.kind != "plateau" or not math.isfinite(mean_loss):
            return False
        if mean_loss < self.best * (1 - THRESHOLD):
            self.best, self.bad_windows = mean_loss, 0
            return False
        self.bad_windows += 1
        if self.bad_windows < PATIENCE or self.drops >= MAX_DROPS:
            return False
        self.drops += 1
        self.bad_windows = 0
        self.best = mean_loss
        return True

    def state(self) -> ScheduleState:
        return ScheduleState(self.drops, self.best, self.bad_windows)

    def load(self, state: ScheduleState) -> None:
        self.drops, self.best, self.bad_windows = state.drops, state.best, state.bad_windows
