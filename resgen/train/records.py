"""What a run leaves behind: metrics.jsonl, summary.json, curves.png, written atomically.

Every file is written to a temporary file in the same folder and moved into place with
``os.replace``, so a reader (or a run killed mid-write) sees the old file or the new one, never
half of one. Only rank 0 of a torchrun job calls anything here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from resgen.files import MIB, WriteFailed, read_regular, write_atomic, write_atomic_with

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CURVES = "curves.png"
MODEL = "model.py"
METRICS_BYTES = 256 * MIB


def _clean(value: Any) -> Any:
    """JSON without NaN or infinity: a non-finite number is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def dump_json(value: Any) -> str:
    return json.dumps(_clean(value), indent=2, sort_keys=False) + "\n"


class MetricsLog:
    """``metrics.jsonl``: one JSON object per logging step, appended and flushed as it comes."""

    def __init__(self, path: Path, keep_until: int | None) -> None:
        """Start the file afresh, or (resuming) keep the lines up to step ``keep_until``: lines
        a killed run wrote after its last checkpoint are dropped, as that work is redone."""
        self.path = path
        kept = []
        if keep_until is not None:
            kept = [r for r in read_metrics(path) if r["step"] <= keep_until]
        write_atomic(path, "".join(json.dumps(_clean(r)) + "\n" for r in kept))

    def append(self, record: dict[str, Any]) -> None:
        try:
            with self.path.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(_clean(record)) + "\n")
        except OSError as exc:  # a full disk names the log, not nothing
            raise WriteFailed(exc.errno, exc.strerror or str(exc), str(self.path)) from None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl`` (a regular file within its size bound), up to
    the first line that is not one (a line cut short by a hard kill ends the usable record)."""
    if not path.exists():
        return []
    records = []
    for line in (
        read_regular(path, METRICS_BYTES, what="metrics log")
        .decode("utf-8", "replace")
        .splitlines()
    ):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            break
        if not isinstance(record, dict) or type(record.get("step")) is not int:
            break
        records.append(record)
    return records


def write_summary(folder: Path, summary: dict[str, Any]) -> None:
    write_atomic(folder / SUMMARY, dump_json(summary))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> None:
    write_atomic_with(path, lambda stream: figure.savefig(stream, format="png", dpi=120))


def plot_curves(folder: Path, summary: dict[str, Any]) -> Path:
    """``curves.png``: training loss, training error (%) and the learning rate against step."""
    plt = _pyplot()
    records = read_metrics(folder / METRICS)
    steps = [r["step"] for r in records]
    figure, (loss_axis, error_axis, rate_axis) = plt.subplots(
        1, 3, figsize=(14, 4), layout="constrained", width_ratios=(4, 4, 2)
    )
    loss_axis.plot(steps, [r["loss"] for r in records], color="tab:blue")
    loss_axis.set(xlabel="step", ylabel="training loss", yscale="log")
    error_axis.plot(steps, [100 * (1 - r["accuracy"]) for r in records], color="tab:red")
    error_axis.set(xlabel="step", ylabel="training error (%)")
    test_accuracy = summary.get("test_accuracy")
    if test_accuracy is not None and steps:
        test_error = 100 * (1 - test_accuracy)
        error_axis.scatter([steps[-1]], [test_error], color="black", zorder=3)
        error_axis.annotate(
            f"test {test_error:.1f}%",
            (steps[-1], test_error),
            textcoords="offset points",
            xytext=(-8, 8),
            ha="right",
        )
    rate_axis.step(steps, [r["lr"] for r in records], where="post", color="grey")
    rate_axis.set(xlabel="step", ylabel="learning rate", ylim=(0, None))
    for axis in (loss_axis, error_axis, rate_axis):
        axis.grid(alpha=0.3)
    figure.suptitle(
        f"{summary['name']} ({summary['backend']}, {summary['device']}, data {summary['data']}, "
        f"batch {summary['batch_size']}, seed {summary['seed']})",
        fontsize=10,
    )
    path = folder / CURVES
    _save(figure, path)
    plt.close(figure)
    return path


def plot_overlay(path: Path, runs: Sequence[tuple[dict[str, Any], Path]]) -> None:
    """One figure, one line per run: training error (%) and training loss against step, as in
    He et al. 2015, Fig. 6 (dashed: networks without shortcuts)."""
    plt = _pyplot()
    figure, (error_axis, loss_axis) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for summary, folder in runs:
        records = read_metrics(folder / METRICS)
        steps = [r["step"] for r in records]
        style = "--" if summary.get("shortcut") == "none" else "-"
        label = f"{summary['name']} ({100 * (1 - summary['final_accuracy']):.1f}% train err"
        if summary.get("test_accuracy") is not None:
            label += f", {100 * (1 - summary['test_accuracy']):.1f}% test err"
        label += ")"
        error_axis.plot(
            steps, [100 * (1 - r["accuracy"]) for r in records], style, label=label, linewidth=1.4
        )
        loss_axis.plot(steps, [r["loss"] for r in records], style, label=summary["name"])
    error_axis.set(xlabel="step", ylabel="training error (%)")
    loss_axis.set(xlabel="step", ylabel="training loss", yscale="log")
    for axis in (error_axis, loss_axis):
        axis.grid(alpha=0.3)
    error_axis.legend(fontsize=8)
    first = runs[0][0]
    figure.suptitle(
        f"same budget: {first['steps']} steps x batch {first['batch_size']}, data {first['data']}"
        f", seed {first['seed']}, {first['backend']} on {first['device']}",
        fontsize=10,
    )
    _save(figure, path)
    plt.close(figure)
