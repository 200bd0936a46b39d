"""Write the results page, ``<results>/README.md``, and its plots from the sections' JSON.

Each section's JSON (any may be missing: its part of the page says so) becomes one part of the
page through :func:`benchmarks.markdown.table`; the data-path and training sections write their
own parts (``report`` in their modules). This page is the one place results are written down:
docs/benchmarks.md explains the method and links here.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import data_path, grad_checkpointing, plots, training
from benchmarks.common import Json, read_json
from benchmarks.markdown import Column, fixed, ms, ms_iqr, provenance, ratio, table

SECTIONS = (
    "run",
    "generation",
    "torch_models",
    "keras_models",
    "structure",
    "diagnose_residual_add",
    "precision",
    "training",
    "data_path",
    "grad_checkpointing",
)


def machine(run: Json | None) -> list[str]:
    lines = ["## Machine and conditions", ""]
    if not run:
        return [*lines, "_No run.json: machine not recorded._", ""]
    m, v = run["machine"], run["machine"]["versions"]
    load = run.get("load_during", {})
    software = ", ".join(f"{name} {version}" for name, version in v.items() if version)
    rows = [
        ("date", m["date_utc"]),
        ("CPU", f"{m['cpu_model']} (AVX-512: {m['cpu_flags_avx512']}, AMX: {m['cpu_flags_amx']})"),
        ("cores", f"{m['logical_cores']} logical, {m['usable_cores']} usable"),
        ("memory", f"{m['memory_gib']} GiB"),
        ("GPU", ", ".join(m["gpus"]) or "none"),
        ("OS", m["os"]),
        ("software", software),
        ("commit", m["git"]["commit"] + (" (uncommitted changes)" if m["git"]["dirty"] else "")),
        ("command", f"`{run['command'].strip()}`" + (" (smoke run)" if run["quick"] else "")),
        ("wall time", f"{run['wall_s']:.0f} s"),
        (
            "1-minute load",
            f"start {run['load_at_start'][0]:.2f}, end {run['load_at_end'][0]:.2f}, "
            f"during: mean {load.get('mean', 0):.2f}, max {load.get('max', 0):.2f}",
        ),
    ]
    if "wait" in run:
        wait = run["wait"]
        rows.append(("waited for quiet", f"{wait['outcome']} after {wait['waited_s']:.0f} s"))
    lines += table(
        [Column("", "key"), Column("", "value")], [{"key": k, "value": x} for k, x in rows]
    )
    if load.get("max", 0) >= 0.7 * (m["usable_cores"] or 1):
        lines += [
            f"**The machine was busy** (1-minute load up to {load['max']:.2f} on "
            f"{m['usable_cores']} cores): absolute figures are pessimistic and spread widely; "
            "interleaving cancels slow drifts from the ratios, not short bursts.",
            "",
        ]
    return lines


def generation(gen: Json | None) -> list[str]:
    lines = ["## Generation", ""]
    if not gen:
        return [*lines, "_not run_", ""]
    latency = gen["command_latency"]
    lines += [
        provenance(gen),
        "",
        f"Subprocess wall time, {latency['rounds']} rounds, commands "
        "rotated each round, one untimed pass first. The builds share a build cache of their "
        'own, warmed by that pass; "files current" builds write into a folder already '
        'holding every file a build writes, current; "empty --out" into a new empty folder '
        "each time.",
        "",
    ]
    cpu = latency.get("commands_cpu_s", {})
    commands = [
        {"name": f"`{k}`", **v, "cpu": cpu.get(k)} for k, v in latency["commands_s"].items()
    ]
    commands.append(
        {
            "name": "`import resgen` minus bare interpreter start",
            **latency["import_resgen_minus_bare_python_s"],
        }
    )
    lines += table(
        [
            Column("command", "name"),
            Column("median ms", ms, "r"),
            Column("IQR ms", ms_iqr, "r"),
            Column("CPU ms (user + sys, median)", lambda r: ms(r.get("cpu")), "r"),
        ],
        commands,
    )
    lines += cli_targets(latency)
    per = gen["per_spec"]
    lines += [
        f"In-process per spec, median of {per['reps']} repetitions; all specs: "
        f"{1000 * per['sum_of_medians_s']:.0f} ms.",
        "",
    ]
    specs = sorted(per["specs"].items(), key=lambda kv: (kv[1]["depth"], kv[0]))
    columns = [
        Column("spec", "name"),
        Column("depth", "depth", "r"),
        Column("params", "params", "r", fixed(0)),
        Column("load ms", lambda r: ms(r["load_s"]), "r"),
        Column("plan ms", lambda r: ms(r["plan_s"]), "r"),
    ]
    for backend in per["backends"]:
        columns.append(
            Column(f"render {backend} ms", lambda r, b=backend: ms(r[f"render_{b}_s"]), "r")
        )
    columns.append(Column("total ms", lambda r: ms(r["total_s"]), "r"))
    for backend in per["backends"]:
        columns.append(
            Column(f"{backend} bytes", lambda r, b=backend: r["file_bytes"].get(b), "r", fixed(0))
        )
    lines += table(columns, [{"name": name, **spec} for name, spec in specs])
    return [*lines, "![generation vs depth](generation_vs_depth.png)", ""]


def cli_targets(latency: Json) -> list[str]:
    """Issue 22's goals for the command line, met or not, in wall and CPU time, and every
    timed build as a multiple of ``resgen --version``."""
    found = latency.get("cli_targets")
    if not found:
        return []
    load = latency.get("load_1min") or {}
    cpu = latency.get("machine") or {}
    where = (
        f" on {cpu['cpu_model']}, {cpu['usable_cores']} usable cores"
        if cpu.get("cpu_model")
        else ""
    )
    lines = [
        f"Command-line goals (per round, then the median over rounds{where}; 1-minute load "
        f"{load.get('min', 0):.1f}-{load.get('max', 0):.1f} during these rounds; CPU time is "
        "what the machine's other work inflates least):",
        "",
    ]
    goal_build = found.get("goal_build", "resgen build specs/ --backend all (cold)")
    rows = []
    for unit in ("wall", "cpu"):
        gap = found[f"version_minus_bare_{unit}_s"]
        if gap.get("n"):
            met = gap["median"] <= found["version_minus_bare_goal_s"]
            rows.append(
                {
                    "goal": "`resgen --version` minus `python -c pass`: at most 150 ms",
                    "unit": unit,
                    "value": f"{1000 * gap['median']:.0f} ms",
                    "met": "yes" if met else "no",
                }
            )
        ratios = found.get("over_version") or {
            goal_build: {unit: found[f"build_over_version_{unit}"]}
        }
        for build, by_unit in ratios.items():
            times = by_unit.get(unit, {})
            if not times.get("n"):
                continue
            is_goal = build == goal_build
            met = times["median"] <= found["build_over_version_goal"]
            rows.append(
                {
                    "goal": f"`{build}` over `resgen --version`"
                    + (": at most 3x" if is_goal else ""),
                    "unit": unit,
                    "value": f"{times['median']:.1f}x",
                    "met": ("yes" if met else "no") if is_goal else "(no goal)",
                }
            )
    columns = [
        Column("goal", "goal"),
        Column("time", "unit"),
        Column("measured", "value", "r"),
        Column("met", "met"),
    ]
    return [*lines, *table(columns, rows)] if rows else []


def models(
    torch_data: Json | None, keras_data: Json | None, structure: Json | None, diagnosis: Json | None
) -> list[str]:
    lines = ["## Generated versus reference models", ""]
    rows = []
    for data in (torch_data, keras_data):
        for label, comparison in (data or {}).get("comparisons", {}).items():
            if "skipped" in comparison:
                rows.append({"label": label, "skipped": comparison["skipped"]})
                continue
            for mode in ("forward", "forward_backward"):
                result = comparison[mode]
                rows.append(
                    {
                        "label": label,
                        "pass": mode.replace("_", "+"),
                        "batch": comparison["batch"],
                        **result,
                        "diff": comparison["max_abs_output_difference"],
                    }
                )
    if not rows:
        return [*lines, "_not run_", ""]
    lines += [
        f"torch: {provenance(torch_data)} keras: {provenance(keras_data)}",
        "",
        "Same weights and input, one process, calls interleaved A B, B A, ... after "
        "warm-up; ratio = generated time / reference time per round, median (IQR); "
        "ratio of minima = fastest generated / fastest reference call.",
        "",
    ]
    lines += table(
        [
            Column("comparison", "label"),
            Column("pass", lambda r: r.get("pass", r.get("skipped"))),
            Column("batch", "batch", "r"),
            Column("generated ms", lambda r: ms(r.get("candidate_s")), "r"),
            Column("reference ms", lambda r: ms(r.get("reference_s")), "r"),
            Column("rounds", "rounds", "r"),
            Column("ratio (IQR)", lambda r: ratio(r.get("ratio")), "r"),
            Column("ratio of minima", "ratio_of_minima", "r", fixed(3)),
            Column("max abs diff", "diff", "r", lambda x: f"{x:.1e}"),
        ],
        rows,
    )
    for label, found in (structure or {}).get("torch", {}).items():
        same = not found["differences"]
        lines.append(
            f"- {label} (torch.fx): {found['operations']} vs "
            f"{found['reference_operations']} operations, "
            f"{'identical counts' if same else found['differences']}."
        )
    for label, found in (structure or {}).get("keras", {}).items():
        lines.append(
            f"- {label}: {found['layers']} vs {found['reference_layers']} layers, "
            f"{'same sequence' if found['same_sequence'] else found['differences']}."
        )
    if diagnosis:
        lines += [
            "",
            f"Residual-add diagnostic ({diagnosis['date_utc']}, batch {diagnosis['batch']}):",
            "",
        ]
        lines += table(
            [
                Column("pair", "pair"),
                Column("pass", "pass"),
                Column("rounds", "rounds", "r"),
                Column("ratio (IQR)", lambda r: ratio(r["ratio"]), "r"),
            ],
            [
                {"pair": key, "pass": mode, **result}
                for mode in ("forward", "forward_backward")
                for key, result in diagnosis[mode].items()
            ],
        )
    return [*lines, "", "![ratios](ratios.png)", ""]


def write(results: Path) -> None:
    """Write README.md and the plots from the JSON files in ``results``."""
    data = {name: read_json(results / f"{name}.json") for name in SECTIONS}
    lines = [
        "# resgen benchmark results",
        "",
        "Generated by `python -m benchmarks` (benchmarks/report.py) from the JSON files beside "
        "this page; do not edit. What each section measures and how: "
        "[docs/benchmarks.md](../../docs/benchmarks.md).",
        "",
        *machine(data["run"]),
        *generation(data["generation"]),
        *models(
            data["torch_models"],
            data["keras_models"],
            data["structure"],
            data["diagnose_residual_add"],
        ),
        *data_path.report(data["data_path"]),
        *grad_checkpointing.report(data["grad_checkpointing"]),
        *training.report(data["training"], data["generation"], data["precision"]),
    ]
    (results / "README.md").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    if data["generation"]:
        plots.plot_generation(data["generation"], results / "generation_vs_depth.png")
    if data["training"]:
        plots.plot_training(data["training"], data["generation"], results / "training_vs_depth.png")
    plots.plot_ratios(data["torch_models"], data["keras_models"], results / "ratios.png")
