"""What a run prints while it trains: a rich progress bar on a terminal, else one line per log
step, and the closing result line. Only rank 0 prints. Paths and other text are printed as
they are: nothing here is read as rich markup."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bar
from rich.text import Text

from resgen.train.config import World


def _fields(record: dict[str, Any]) -> dict[str, str]:
    return {
        "loss": f"{record['loss']:.4f}",
        "accuracy": f"{record['accuracy']:.3f}",
        "speed": f"{record['images_per_second']:.0f}",
        "wait": f"{100 * record['data_wait_fraction']:.0f}%",
    }


class Progress:
    """A rich progress bar (rank 0 only); without a terminal, one plain line per log step."""

    def __init__(
        self, console: Console, name: str, precision: str, total: int, start: int, world: World
    ) -> None:
        self.console, self.name, self.precision, self.total = console, name, precision, total
        self.enabled = world.is_main
        self.bar: Bar | None = None
        if self.enabled and console.is_terminal:
            self.bar = Bar(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}", markup=False),
                TextColumn("acc {task.fields[accuracy]}", markup=False),
                TextColumn("{task.fields[speed]} img/s", markup=False),
                TextColumn("data wait {task.fields[wait]}", markup=False),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            blank = {"loss": "-", "accuracy": "-", "speed": "-", "wait": "-"}
            self.task = self.bar.add_task(
                f"{name} ({precision})", total=total, completed=start, **blank
            )

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def report(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        shown = _fields(record)
        if self.bar is not None:
            self.bar.update(self.task, completed=record["step"], **shown)
            return
        self.console.print(
            Text(
                f"{self.name} ({self.precision}) step {record['step']}/{self.total}: "
                f"loss {shown['loss']}, "
                f"accuracy {shown['accuracy']}, lr {record['lr']:.4g}, {shown['speed']} images/s, "
                f"data wait {shown['wait']}"
            )
        )

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def result_line(s: dict[str, Any]) -> str:
    test = "" if s["test_accuracy"] is None else f", test accuracy {s['test_accuracy']:.3f}"
    speed = ""
    if s["images_per_second"] is not None:
        speed = (
            f", {s['images_per_second']:.0f} images/s "
            f"(data wait {100 * s['data_wait_fraction']:.1f}%)"
        )
    return (
        f"{s['name']} ({s['precision']}): loss {s['first_loss']:.3f} -> {s['final_loss']:.3f}, "
        f"train accuracy {s['final_accuracy']:.3f}{test}{speed}, {s['wall_seconds']:.1f} s"
    )
