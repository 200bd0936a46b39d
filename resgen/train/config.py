"""One training run's settings, the paper's recipe, and the torchrun world.

The recipe is He et al. 2015 (sec. 4.2): SGD with momentum 0.9, weight decay 1e-4 on every
parameter, learning rate 0.1 for a batch of 128 scaled linearly with the batch (here
0.1 * batch / 256, the rule of Goyal et al. 2017 that the paper's ImageNet setting also follows),
divided by 10 when the training loss plateaus (or at 50% and 75% of the steps, the paper's 32k
and 48k of 64k iterations), no dropout.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Literal

from resgen.backends import Backend
from resgen.errors import Problem, ResgenError

DeviceRequest = Literal["auto", "cpu", "cuda", "mps"]
ScheduleName = Literal["plateau", "step"]

MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
LR_PER_256_IMAGES = 0.1
DEFAULT_STEPS = 100
DEFAULT_BATCH_SIZE = 128
MAX_WORKERS = 8  # the default number of data workers is at most this
MAX_STEPS = 1_000_000_000  # --steps, and --epochs times the steps of an epoch: a day at 10k/s
MAX_LR = 1000.0  # SGD keeps the rate as a float32 (1e308 overflows); far past any that trains
MAX_COUNT = 2**63 - 1  # any other count: it must fit the int64 that numpy and torch keep
SEED_LIMIT = 2**32  # Keras and numpy take seeds below it
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C'd command


class OptionProblem(Problem):
    """A problem with a command-line option rather than a place in a file: ``--data: ...``."""

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def option_error(option: str, message: str) -> ResgenError:
    """One clear line naming the option and what is wrong with it."""
    return ResgenError(OptionProblem(option, 0, 0, "", message))


@dataclass(frozen=True)
class World:
    """Where this process sits in a torchrun job (a single process is rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1  # processes on this machine

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @classmethod
    def from_env(cls) -> World:
        """Read torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``."""
        try:
            size = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
            local_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(size)))
        except ValueError as exc:
            raise option_error("WORLD_SIZE/RANK", f"not an integer: {exc}") from None
        if size < 1 or not 0 <= rank < size:
            raise option_error("WORLD_SIZE/RANK", f"rank {rank} is outside a world of {size}")
        return cls(rank=rank, size=size, local_rank=local, local_size=max(1, local_size))


@dataclass(frozen=True)
class TrainConfig:
    """Everything the command line decides about a run (the same for every spec)."""

    backend: Backend = "torch"
    device: DeviceRequest = "auto"
    data: str = "synthetic"
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    lr: float | None = None
    schedule: ScheduleName = "plateau"
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    seed: int = 0
    augment: bool | None = None
    log_every: int = 10
    checkpoint_every: int = 200
    resume: bool = False
    force: bool = False
    workers: int | None = None  # None: default_workers()
    eval_images: int | None = None  # None: the whole held-out split

    def __post_init__(self) -> None:
        if self.steps is not None and self.epochs is not None:
            raise option_error("--steps/--epochs", "give one of them, not both")
        if self.resume and self.force:
            raise option_error("--resume/--force", "give one of them, not both")
        if not 0 <= self.seed < SEED_LIMIT:
            raise option_error("--seed", f"must be between 0 and 2**32 - 1, got {self.seed}")
        for option, floor in (("--workers", self.workers), ("--eval-images", self.eval_images)):
            if floor is not None and floor < 0:
                raise option_error(option, f"must be at least 0, got {floor}")
        if self.lr is not None and not (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise option_error(
                "--lr", f"must be a positive finite number of at most {MAX_LR:g}, got {self.lr}"
            )
        for option, count, most in (
            ("--steps", self.steps, MAX_STEPS),
            ("--epochs", self.epochs, MAX_STEPS),
            ("--batch-size", self.batch_size, MAX_COUNT),
            ("--log-every", self.log_every, MAX_COUNT),
            ("--checkpoint-every", self.checkpoint_every, MAX_COUNT),
            ("--workers", self.workers, MAX_COUNT),
            ("--eval-images", self.eval_images, MAX_COUNT),
        ):
            if count is not None and count > most:
                raise option_error(option, f"must be at most {most:,}, got {count:,}")
        for option, value in (
            ("--batch-size", self.batch_size),
            ("--log-every", self.log_every),
            ("--checkpoint-every", self.checkpoint_every),
            ("--steps", self.steps),
            ("--epochs", self.epochs),
        ):
            if value is not None and value < 1:
                raise option_error(option, f"must be at least 1, got {value}")

    @property
    def base_lr(self) -> float:
        """``--lr``, or the paper's 0.1 per 256 images of (global) batch."""
        return self.lr if self.lr is not None else LR_PER_256_IMAGES * self.batch_size / 256

    def total_steps(self, steps_per_epoch: int) -> int:
        if self.epochs is not None:
            return self.epochs * steps_per_epoch
        return self.steps if self.steps is not None else DEFAULT_STEPS

    def check_length(self, steps_per_epoch: int) -> None:
        """Refuse ``--epochs`` whose steps exceed :data:`MAX_STEPS` (before anything is
        written)."""
        total = self.total_steps(steps_per_epoch)
        if total > MAX_STEPS:
            raise option_error(
                "--epochs",
                f"{self.epochs:,} epochs of {steps_per_epoch:,} steps are {total:,} steps, "
                f"more than {MAX_STEPS:,}",
            )


def usable_cores() -> int:
    """The cores this process may run on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


def default_workers(world: World) -> int:
    """Data workers per process: the cores this process may use, shared among the processes
    of this machine, at most :data:`MAX_WORKERS`, at least 1."""
    return max(1, min(MAX_WORKERS, usable_cores() // world.local_size))


def workers_for(config: TrainConfig, world: World) -> int:
    """``--workers`` capped by the machine (more processes than the usable cores only cost
    memory and start-up time: 100,000 asked for started hundreds and gigabytes), or the
    default."""
    if config.workers is None:
        return default_workers(world)
    return min(config.workers, max(1, usable_cores()))


# What must match for ``--resume`` to continue the same trajectory: the spec, the generated file
# (a resgen upgrade may change it), and the run's settings. The length of the run, the device,
# logging and checkpoint cadence may change between the parts of a run.
RESUME_KEYS = (
    "spec_sha256",
    "model_sha256",
    "backend",
    "data",
    "batch_size",
    "lr",
    "schedule",
    "seed",
    "augment",
    "world_size",
)
