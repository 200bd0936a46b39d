"""Turn the JSON results into ``README.md`` (tables) and PNG plots, in the results folder.

Reads ``run.json``, ``generation.json``, ``torch_models.json``, ``keras_models.json`` and
``training.json`` (any may be missing: its section says so) and writes:

- ``README.md``: machine, conditions, and one table per benchmark;
- ``generation_vs_depth.png``: per-spec generation time, parameters and file size vs depth;
- ``training_vs_depth.png``: CIFAR ResNet training throughput vs depth, with the 1/MACs line;
- ``ratios.png``: generated / reference time ratios with their spread and the 2% band.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import Json, read_json

IMAGENET = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
CIFAR = (
    "resnet20_cifar",
    "resnet32_cifar",
    "resnet44_cifar",
    "resnet56_cifar",
    "resnet110_cifar",
    "resnet1202_cifar",
)


def ms(summary: Json | None) -> str:
    return "n/a" if not summary or not summary.get("n") else f"{1000 * summary['median']:.1f}"


def spread_ms(summary: Json | None) -> str:
    if not summary or not summary.get("n"):
        return ""
    return f"{1000 * summary['q1']:.1f}-{1000 * summary['q3']:.1f}"


def num(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A Markdown table; ``align`` has one letter per column (l or r), default left."""
    marks = [
        "---:" if (align[i] if i < len(align) else "l") == "r" else "---"
        for i in range(len(header))
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def provenance(data: Json | None) -> str:
    """When a section ran and how loaded the machine was (each section's JSON records it)."""
    if not data or "date_utc" not in data:
        return ""
    mode = ", smoke run" if data.get("quick") else ""
    return (
        f"_Section run {data['date_utc']}{mode}, {data.get('section_wall_s', 0):.0f} s; "
        f"1-minute load {data['load_at_start'][0]:.2f} at start, "
        f"{data['load_at_end'][0]:.2f} at end._"
    )


# --- sections --------------------------------------------------------------------------------


def machine_section(run: Json | None) -> list[str]:
    if not run:
        return ["_No run.json: machine not recorded._", ""]
    m = run["machine"]
    v = m["versions"]
    gpus = ", ".join(m["gpus"]) or "none"
    tf = v.get("tensorflow") or v.get("tensorflow-cpu")
    lines = ["## Machine and conditions", ""]
    rows = [
        ["date", m["date_utc"]],
        ["CPU", f"{m['cpu_model']} (AVX-512: {m['cpu_flags_avx512']}, AMX: {m['cpu_flags_amx']})"],
        ["cores", f"{m['logical_cores']} logical, {m['usable_cores']} usable"],
        ["memory", f"{m['memory_gib']} GiB"],
        ["GPU", gpus],
        ["OS", m["os"]],
        [
            "software",
            f"Python {v['python']}, resgen {v['resgen']}, torch {v['torch']}, "
            f"torchvision {v['torchvision']}, tensorflow {tf}, keras {v['keras']}, "
            f"numpy {v['numpy']}",
        ],
        ["commit", f"{m['git']['commit']}{' (uncommitted changes)' if m['git']['dirty'] else ''}"],
        ["command", f"`{run['command'].strip()}`" + (" (smoke run)" if run["quick"] else "")],
        ["wall time", f"{run['wall_s']:.0f} s"],
    ]
    load = run.get("load_during", {})
    rows.append(
        [
            "load average (1 min)",
            f"start {run['load_at_start'][0]:.2f}, end {run['load_at_end'][0]:.2f}, "
            f"during: mean {load.get('mean', float('nan')):.2f}, max {load.get('max', 0):.2f} "
            f"({m['usable_cores']} cores)",
        ]
    )
    if "wait" in run:
        wait = run["wait"]
        rows.append(
            [
                "waited for quiet",
                f"{wait['outcome']} after {wait['waited_s']:.0f} s "
                f"(threshold {wait['threshold']}, deadline {wait['deadline_utc']} UTC)",
            ]
        )
    lines += table(["", ""], rows)
    noisy = load.get("max", 0) >= 0.7 * (m["usable_cores"] or 1)
    if noisy:
        lines += [
            "**The machine was busy during this run** (1-minute load up to "
            f"{load.get('max', 0):.2f} on {m['usable_cores']} cores, other jobs competing): "
            "absolute times and throughputs are pessimistic and spread widely. Interleaving "
            "cancels slow drifts from the ratios, not bursts shorter than a call, so the ratios "
            "carry several percent of noise too; see the IQR columns.",
            "",
        ]
    return lines


def generation_section(gen: Json | None) -> list[str]:
    lines = ["## Generation", ""]
    if not gen:
        return [*lines, "_not run_", ""]
    lines += [provenance(gen), ""]
    latency = gen["command_latency"]
    lines += [
        f"Subprocess wall time over {latency['rounds']} rounds (commands rotated each round; "
        "one untimed pass first, so .pyc files and the page cache are warm; each build writes "
        "into a new empty folder).",
        "",
    ]
    rows = []
    for name, summary in latency["commands_s"].items():
        rows.append(
            [
                f"`{name}`",
                ms(summary),
                spread_ms(summary),
                f"{1000 * summary['min']:.1f}-{1000 * summary['max']:.1f}",
            ]
        )
    for name, failure in latency.get("failures", {}).items():
        rows.append([f"`{name}`", "failed", failure.replace("|", "/")[:120], ""])
    imported = latency["import_resgen_minus_bare_python_s"]
    rows.append(
        ["`import resgen` (minus bare interpreter start)", ms(imported), spread_ms(imported), ""]
    )
    lines += table(["command", "median ms", "IQR ms", "min-max ms"], rows, "lrrr")
    profile = gen["import_profile"]
    heavy = ", ".join(f"{k} {v:.0f} ms" for k, v in profile["self_time_by_package_ms"].items())
    lines += [
        f"`python -X importtime -c 'import resgen'`: {profile['all_imports_ms']:.0f} ms of "
        f"imports; own time by package: {heavy}. Frameworks in `sys.modules` after "
        f"`import resgen`: {profile['frameworks_in_sys_modules_after_import']}.",
        "",
    ]
    per = gen["per_spec"]
    first = per["first_render_in_process_s"]
    first_text = ", ".join(
        f"{b} {1000 * t:.0f} ms" if isinstance(t, float) else f"{b} {t}" for b, t in first.items()
    )
    lines += [
        f"In-process, per spec (median of {per['reps']} repetitions; the first render in a "
        f"process also compiles the templates: {first_text}). Sum over all "
        f"{len(per['specs'])} specs: {1000 * per['sum_of_medians_s']:.0f} ms.",
        "",
    ]
    backends = per["backends"]
    header = ["spec", "depth", "params", "load ms", "plan ms"]
    header += [f"render {b} ms" for b in backends] + ["total ms"]
    header += [f"{b} file bytes" for b in backends]
    rows = []
    for name, spec in sorted(per["specs"].items(), key=lambda kv: (kv[1]["depth"], kv[0])):
        row = [
            name,
            str(spec["depth"]),
            f"{spec['params']:,}",
            ms(spec["load_s"]),
            ms(spec["plan_s"]),
        ]
        row += [ms(spec.get(f"render_{b}_s")) for b in backends]
        row += [ms(spec["total_s"])]
        row += [f"{spec['file_bytes'].get(b, 0):,}" for b in backends]
        rows.append(row)
    lines += table(header, rows, "lrr" + "r" * (len(header) - 3))
    lines += ["![generation vs depth](generation_vs_depth.png)", ""]
    return lines


def _ratio_rows(data: Json | None) -> list[list[str]]:
    rows: list[list[str]] = []
    if not data:
        return rows
    for label, comparison in data["comparisons"].items():
        if "skipped" in comparison:
            rows.append([label, "", "", "", "", "", comparison["skipped"], "", ""])
            continue
        for mode, title in (("forward", "forward"), ("forward_backward", "forward+backward")):
            result = comparison[mode]
            ratio = result["ratio"]
            rows.append(
                [
                    label,
                    title,
                    str(comparison["batch"]),
                    ms(result["candidate_s"]),
                    ms(result["reference_s"]),
                    str(result["rounds"]),
                    f"**{num(ratio['median'])}** ({num(ratio['q1'])}-{num(ratio['q3'])})",
                    num(result["ratio_of_minima"]),
                    f"{comparison['max_abs_output_difference']:.1e}",
                ]
            )
    return rows


def structure_lines(structure: Json | None) -> list[str]:
    """What the structural comparison (benchmarks/structure.py) found."""
    if not structure:
        return []
    lines = ["Operations compared without a clock (benchmarks/structure.py):", ""]
    for label, found in structure["torch"].items():
        if found["differences"]:
            parts = "; ".join(
                f"{op}: {c['generated']} vs {c['reference']}"
                for op, c in found["differences"].items()
            )
            text = f"differ only in {parts}"
        else:
            text = "identical operation counts"
        lines.append(
            f"- {label} (torch.fx, {found['operations']} vs {found['reference_operations']} "
            f"operations): {text}."
        )
    for label, found in structure["keras"].items():
        text = (
            "the same layers with the same settings, in the same order"
            if found["same_sequence"]
            else f"differences {found['differences']}"
        )
        lines.append(
            f"- {label} ({found['layers']} vs {found['reference_layers']} layers): {text}."
        )
    return [*lines, ""]


def diagnosis_lines(diagnosis: Json | None) -> list[str]:
    """The residual-add diagnostic (benchmarks/diagnose_residual_add.py), when it was run."""
    if not diagnosis:
        return []
    names = {
        "generated_vs_reference": "generated / hand-written",
        "inplace_vs_reference": "generated with in-place add / hand-written",
        "generated_vs_inplace": "generated / generated with in-place add",
    }
    rows = []
    for mode in ("forward", "forward_backward"):
        for key, result in diagnosis[mode].items():
            ratio = result["ratio"]
            rows.append(
                [
                    names.get(key, key),
                    mode.replace("_", "+"),
                    str(result["rounds"]),
                    f"{num(ratio['median'])} ({num(ratio['q1'])}-{num(ratio['q3'])})",
                    num(result["ratio_of_minima"]),
                ]
            )
    load = diagnosis.get("load_at_start", ["?"])[0]
    lines = [
        f"Residual-add diagnostic (benchmarks/diagnose_residual_add.py, {diagnosis['date_utc']}, "
        f"batch {diagnosis['batch']}, 1-minute load {load} at start):",
        "",
    ]
    return lines + table(
        ["pair", "pass", "rounds", "ratio (IQR)", "ratio of minima"], rows, "llrrr"
    )


def models_section(
    torch_data: Json | None,
    keras_data: Json | None,
    structure: Json | None = None,
    diagnosis: Json | None = None,
) -> list[str]:
    lines = [
        "## Generated versus reference models",
        "",
        "Same weights (copied into the reference), same input, same process; calls interleaved "
        "A B, B A, ... after warm-up. Ratio = generated time / reference time, per round; "
        "median (IQR). Ratio of minima = fastest generated call / fastest reference call. "
        "Last column: largest absolute difference of the two models' outputs (eval mode).",
        "",
    ]
    header = [
        "comparison",
        "pass",
        "batch",
        "generated ms",
        "reference ms",
        "rounds",
        "ratio (IQR)",
        "ratio of minima",
        "max abs diff",
    ]
    rows = _ratio_rows(torch_data) + _ratio_rows(keras_data)
    if not rows:
        return [*lines, "_not run_", ""]
    lines += [f"torch: {provenance(torch_data)} keras: {provenance(keras_data)}", ""]
    lines += table(header, rows, "llrrrrrrr")
    notes = []
    if torch_data:
        notes.append(
            f"torch {torch_data['torch']}, {torch_data['threads']} threads, "
            f"CUDA: {torch_data['cuda'] or 'none'}"
        )
    if keras_data:
        notes.append(
            f"keras {keras_data['keras']} on {keras_data['backend']} "
            f"{keras_data['tensorflow']}, compiled tf.function for both models"
        )
    lines += ["; ".join(notes) + ".", ""]
    lines += structure_lines(structure)
    lines += diagnosis_lines(diagnosis)
    lines += ["![ratios](ratios.png)", ""]
    return lines


def _speed(summary: Json) -> tuple[str, str]:
    if not summary.get("n"):
        return "failed", ""
    return f"{summary['median']:.1f}", f"{summary['min']:.1f}-{summary['max']:.1f}"


def training_section(train: Json | None, gen: Json | None) -> list[str]:
    lines = ["## Training throughput (`resgen train`)", ""]
    if not train:
        return [*lines, "_not run_", ""]
    lines += [provenance(train), ""]
    lines += [
        f"Images/s from each run's summary.json (first step excluded), data `{train['data']}`; "
        f"launched as {train['launcher']}. Median and min-max over runs.",
        "",
    ]
    rows = []
    for key, result in train["cpu"].items():
        config = result["config"]
        speed, spread = _speed(result["images_per_second"])
        first = next((r for r in result["runs"] if "device" in r), {})
        rows.append(
            [
                config["spec"],
                config["backend"],
                first.get("device", "cpu"),
                f"{config['steps']} x {config['batch']}",
                speed,
                spread,
                str(result["images_per_second"].get("n", 0)),
                f"{result['process_wall_s']['median']:.0f}",
            ]
        )
        errors = [r["error"] for r in result["runs"] if "error" in r]
        if errors:
            rows.append([key, "error", errors[0].splitlines()[-1][:100], "", "", "", "", ""])
    lines += table(
        ["spec", "backend", "device", "steps x batch", "images/s", "min-max", "runs", "process s"],
        rows,
        "lllrrrrr",
    )
    gpu = train["gpu"]
    lines += [
        "GPU variants (ResNet-50 and ResNet-20, torch: eager fp32, channels_last + bf16, "
        "+ torch.compile):",
        "",
    ]
    if "skipped" in gpu:
        lines += [f"_{gpu['skipped']}_", ""]
    else:
        rows = []
        for key, result in gpu["runs"].items():
            speed, spread = _speed(result["images_per_second"])
            config = result["config"]
            rows.append([key, f"{config['steps']} x {config['batch']}", speed, spread])
        lines += [f"Device: {gpu['device']}.", ""]
        lines += table(["configuration", "steps x batch", "images/s", "min-max"], rows, "lrrr")
    ceilings = train.get("loader_ceiling", [])
    if ceilings:
        parts = [
            f"{c['size']}x{c['size']}: {c['images_per_second']['median']:.0f} images/s"
            for c in ceilings
        ]
        lines += [
            "Synthetic data source alone, one thread (the loop's prefetch thread), on this CPU: "
            + "; ".join(parts)
            + ". No device can train faster than its data arrives.",
            "",
        ]
    lines += ["Published ResNet-50 training figures, for context (reference/README.md):", ""]
    lines += table(
        ["source", "device", "mode", "images/s"],
        [
            [p["source"], p["device"], p["mode"], f"{p['ips']:,}"]
            for p in train["published_resnet50"]
        ],
        "lllr",
    )
    depth_rows = []
    specs = gen["per_spec"]["specs"] if gen else {}
    for result in train["depth"].values():
        config = result["config"]
        speed, spread = _speed(result["images_per_second"])
        spec = specs.get(config["spec"], {})
        rate = ""
        if spec and result["images_per_second"].get("n"):
            rate = f"{6 * spec['macs'] * result['images_per_second']['median'] / 1e9:.1f}"
        depth_rows.append(
            [
                config["spec"],
                str(spec.get("depth", "")),
                f"{spec['macs'] / 1e6:.1f}" if spec else "",
                f"{config['steps']} x {config['batch']}",
                speed,
                rate,
            ]
        )
    lines += ["Throughput against depth (CIFAR ResNets, torch, CPU, one run each):", ""]
    lines += table(
        ["spec", "depth", "MMACs/image", "steps x batch", "images/s", "GFLOP/s (6 x MACs)"],
        depth_rows,
        "lrrrrr",
    )
    lines += ["![training vs depth](training_vs_depth.png)", ""]
    return lines


# --- plots -----------------------------------------------------------------------------------


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


def write(results: Path) -> None:
    """Write README.md and the plots from the JSON files in ``results``."""
    run = read_json(results / "run.json")
    gen = read_json(results / "generation.json")
    torch_data = read_json(results / "torch_models.json")
    keras_data = read_json(results / "keras_models.json")
    train = read_json(results / "training.json")
    structure = read_json(results / "structure.json")
    diagnosis = read_json(results / "diagnose_residual_add.json")
    lines = [
        "# resgen benchmark results",
        "",
        "Written by `python -m benchmarks` (benchmarks/report.py) from the JSON files beside "
        "this page; see the Benchmarks section of the repository README for what the numbers mean.",
        "",
    ]
    lines += machine_section(run)
    lines += generation_section(gen)
    lines += models_section(torch_data, keras_data, structure, diagnosis)
    lines += training_section(train, gen)
    (results / "README.md").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    if gen:
        plot_generation(gen, results / "generation_vs_depth.png")
    if train:
        plot_training(train, gen, results / "training_vs_depth.png")
    plot_ratios(torch_data, keras_data, results / "ratios.png")
