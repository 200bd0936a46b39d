"""The results page's plots, drawn with matplotlib (Agg) from the sections' JSON.

- ``generation_vs_depth.png``: per-spec generation time, parameters and file size vs depth;
- ``training_vs_depth.png``: CIFAR ResNet training throughput vs depth, with the 1/MACs line;
- ``ratios.png``: generated / reference time ratios with their spread and the 2% band.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import Json

IMAGENET = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
CIFAR = (
    "resnet20_cifar",
    "resnet32_cifar",
    "resnet44_cifar",
    "resnet56_cifar",
    "resnet110_cifar",
    "resnet1202_cifar",
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_generation(gen: Json, path: Path) -> None:
    plt = _pyplot()
    specs = gen["per_spec"]["specs"]
    backends = gen["per_spec"]["backends"]
    figure, (time_axis, part_axis, size_axis) = plt.subplots(1, 3, figsize=(15, 4.5))
    for family, marker, label in (
        (IMAGENET, "o", "ImageNet 18-152"),
        (CIFAR, "s", "CIFAR 20-1202"),
    ):
        names = [n for n in family if n in specs]
        depths = [specs[n]["depth"] for n in names]
        totals = [1000 * specs[n]["total_s"]["median"] for n in names]
        time_axis.plot(depths, totals, marker=marker, label=label)
        size_axis.plot(
            depths, [specs[n]["params"] for n in names], marker=marker, label=f"{label}: parameters"
        )
        for backend, style in zip(backends, ("--", ":"), strict=False):
            size_axis.plot(
                depths,
                [specs[n]["file_bytes"][backend] for n in names],
                linestyle=style,
                marker=marker,
                label=f"{label}: {backend} file bytes",
            )
    cifar = [n for n in CIFAR if n in specs]
    depths = [specs[n]["depth"] for n in cifar]
    parts = ["load_s", "plan_s"] + [f"render_{b}_s" for b in backends]
    for part in parts:
        part_axis.plot(
            depths,
            [1000 * specs[n][part]["median"] for n in cifar],
            marker="s",
            label=part.removesuffix("_s").replace("_", " "),
        )
    time_axis.set(
        xscale="log",
        xlabel="depth (layers)",
        ylabel="ms per spec (load+plan+render)",
        title="Generation time per spec vs depth",
    )
    part_axis.set(
        xscale="log",
        xlabel="depth (layers), CIFAR family",
        ylabel="ms",
        title="Where the time goes (CIFAR family)",
    )
    size_axis.set(
        xscale="log",
        yscale="log",
        xlabel="depth (layers)",
        ylabel="count",
        title="Parameters vs generated file size",
    )
    ticks = [20, 50, 100, 200, 500, 1000]
    for axis in (time_axis, part_axis, size_axis):
        axis.set_xticks(ticks, [str(t) for t in ticks])
        axis.xaxis.set_minor_locator(plt.NullLocator())
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_training(train: Json, gen: Json | None, path: Path) -> None:
    plt = _pyplot()
    results = [r for r in train["depth"].values() if r["images_per_second"].get("n")]
    specs = gen["per_spec"]["specs"] if gen else {}
    results = [r for r in results if r["config"]["spec"] in specs]
    if not results:
        return
    names = [r["config"]["spec"] for r in results]
    depths = [specs[n]["depth"] for n in names]
    macs = [specs[n]["macs"] for n in names]
    speeds = [r["images_per_second"]["median"] for r in results]
    figure, (speed_axis, work_axis) = plt.subplots(1, 2, figsize=(11, 4.5))
    speed_axis.plot(depths, speeds, marker="o", label="measured (torch, CPU)")
    expected = [speeds[0] * macs[0] / m for m in macs]
    speed_axis.plot(
        depths, expected, linestyle="--", label=f"{names[0]} scaled by 1/MACs (cost = work)"
    )
    rates = [6 * m * s / 1e9 for m, s in zip(macs, speeds, strict=True)]
    work_axis.plot(depths, rates, marker="o")
    speed_axis.set(
        yscale="log",
        ylabel="training images/s",
        title="CIFAR ResNet training throughput vs depth",
    )
    work_axis.set(
        ylabel="GFLOP/s (3 x 2 x MACs x images/s)",
        title="Useful arithmetic rate vs depth",
    )
    work_axis.set_ylim(bottom=0)
    for axis in (speed_axis, work_axis):
        axis.set_xscale("log")
        axis.set_xticks(depths, [str(d) for d in depths])
        axis.minorticks_off()
        axis.set_xlabel("depth (layers)")
        axis.grid(True, which="both", alpha=0.3)
    speed_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_ratios(torch_data: Json | None, keras_data: Json | None, path: Path) -> None:
    plt = _pyplot()
    labels, medians, lows, highs = [], [], [], []
    for data in (torch_data, keras_data):
        if not data:
            continue
        for label, comparison in data["comparisons"].items():
            if "skipped" in comparison:
                continue
            short = label.replace("generated ", "").replace("keras.applications.", "")
            short = short.replace(" (CPU stand-in)", "").replace(", cpu", "").replace(", cuda", "")
            short = short.replace("hand-written ResNet-50", "hand-written").replace(" vs ", "\nvs ")
            for mode in ("forward", "forward_backward"):
                ratio = comparison[mode]["ratio"]
                labels.append(f"{short}\n{mode.replace('_', '+')}")
                medians.append(ratio["median"])
                lows.append(ratio["median"] - ratio["q1"])
                highs.append(ratio["q3"] - ratio["median"])
    if not labels:
        return
    figure, axis = plt.subplots(figsize=(max(6, 1.8 * len(labels)), 5))
    positions = list(range(len(labels)))
    axis.bar(positions, medians, yerr=[lows, highs], capsize=4, color="tab:blue", alpha=0.7)
    axis.axhspan(0.98, 1.02, color="tab:green", alpha=0.15, label="within 2%")
    axis.axhline(1.0, color="black", linewidth=0.8)
    axis.set_xticks(positions, labels, fontsize=7)
    axis.set(ylabel="generated / reference time", title="Generated vs reference (median, IQR)")
    low = min(m - e for m, e in zip(medians, lows, strict=True))
    high = max(m + e for m, e in zip(medians, highs, strict=True))
    axis.set_ylim(min(0.9, low - 0.02), max(1.1, high + 0.02))
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
