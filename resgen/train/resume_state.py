"""The run record inside a checkpoint: written as JSON, read back with every type checked.

A checkpoint (``checkpoint.pt`` or ``checkpoint.npz``) holds the framework's tensors and one
JSON text, the *meta*: the loop's state, the schedule's state and the run's settings (what
``--resume`` must find unchanged). A damaged or foreign file, or a record whose fields have the
wrong types, is one ``--resume: PATH: not a usable checkpoint (...)`` line, never a traceback.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, Strict, TypeAdapter, ValidationError

from resgen.errors import ResgenError, one_line
from resgen.files import GIB
from resgen.train.config import option_error

CHECKPOINT_BYTES = 8 * GIB  # the largest shipped network's checkpoint is about 1.5 GB

# Types checked strictly: "3" is not a count and true is not a number.
Count = Annotated[int, Strict(), Field(ge=0)]
Real = Annotated[float, Strict()]


@dataclass
class LoopState:
    """Where a run is: saved in every checkpoint, so a resumed run logs as if never stopped."""

    step: Count = 0
    first_loss: Real | None = None
    window_loss: Real = 0.0  # summed over images since the last logging step
    window_correct: Real = 0.0
    window_count: Count = 0
    plateau_loss: Real = 0.0  # summed over images since the last plateau window ended
    plateau_count: Count = 0
    images: Count = 0
    timed_images: Count = 0  # images trained after each part's first sync (warm-up excluded)
    train_seconds: Real = 0.0
    data_wait_seconds: Real = 0.0  # of train_seconds, spent waiting for the next batch
    wall_seconds: Real = 0.0  # of the parts before this one
    resumed_at: list[Count] = field(default_factory=list)
    last_accuracy: Real | None = None
    last_loss: Real | None = None


@dataclass
class ScheduleState:
    """The plateau schedule's memory (see :mod:`resgen.train.schedule`)."""

    drops: Count = 0
    best: Real = math.inf
    bad_windows: Count = 0


@dataclass(frozen=True)
class Meta:
    state: LoopState
    schedule: ScheduleState
    run: dict[Annotated[str, Strict()], Any]


_META = TypeAdapter(Meta)


def dump(state: LoopState, schedule: ScheduleState, run: dict[str, Any]) -> str:
    meta = {"state": asdict(state), "schedule": asdict(schedule), "run": run}
    return json.dumps(meta, allow_nan=True)


def unusable(path: Path, reason: Exception | str) -> ResgenError:
    detail = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
    return option_error("--resume", one_line(f"{path}: not a usable checkpoint ({detail})"[:400]))


def parse(path: Path, text: str) -> Meta:
    """The checked run record of the checkpoint at ``path``."""
    try:
        raw = json.loads(text)
        meta = _META.validate_python(raw)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the run record"
            raise unusable(path, f"{where}: {first['msg']}") from None
        raise unusable(path, exc) from None
    return meta
