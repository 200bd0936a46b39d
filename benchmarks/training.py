"""Training throughput of ``resgen train`` (images/s from summary.json), CPU and GPU variants.

Every run is its own process (``python -m resgen train ... --eval-images 64``: the end-of-run
evaluation, outside the timed steps, on 64 held-out images). Runs of different configurations
alternate
(round 1: A B C D, round 2: B C D A, ...), so a slow minute on the machine spreads over all
of them. ``images_per_second`` excludes the first step (tracing, compilation, allocator
warm-up); wall time is also recorded, start-up, data statistics and evaluation included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    Json,
    quiet_env,
    read_json,
    run_command,
    section_main,
    spec_file,
    summarize,
)
from benchmarks.markdown import Column, fixed, provenance, spread, table

EVAL_IMAGES = 64
RUN_TIMEOUT_S = 240

# Published ResNet-50 training figures (reference/README.md), for context only.
PUBLISHED = [
    {"source": "NVIDIA DeepLearningExamples", "device": "A100 80GB", "mode": "TF32", "ips": 938},
    {"source": "NVIDIA DeepLearningExamples", "device": "A100 80GB", "mode": "AMP", "ips": 2470},
    {"source": "NVIDIA DeepLearningExamples", "device": "V100", "mode": "FP32", "ips": 367},
    {"source": "NVIDIA DeepLearningExamples", "device": "V100", "mode": "AMP", "ips": 1200},
    {"source": "MLPerf Training v3.0 (8x H100)", "device": "H100", "mode": "per GPU", "ips": 7000},
    {
        "source": "bound: 989 TFLOP/s bf16 / 24.5 GFLOP per image",
        "device": "H100",
        "mode": "dense bf16 peak",
        "ips": 40000,
    },
]


@dataclass(frozen=True)
class Config:
    """One ``resgen train`` configuration."""

    spec: str
    backend: str
    steps: int
    batch: int
    options: tuple[str, ...] = ()
    label: str = ""
    device: str = "cpu"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.label or f"{self.spec} {self.backend} {self.device}"


def train_once(config: Config, folder: Path, timeout: float = RUN_TIMEOUT_S) -> Json:
    args = [
        sys.executable,
        "-m",
        "resgen",
        "train",
        str(spec_file(config.spec)),
        "--backend",
        config.backend,
        "--device",
        config.device,
        "--data",
        "synthetic",
        "--steps",
        str(config.steps),
        "--batch-size",
        str(config.batch),
        "--checkpoint-every",
        str(10 * config.steps),
        "--eval-images",
        str(EVAL_IMAGES),
        "--out",
        str(folder),
        *config.options,
    ]
    env = quiet_env(KERAS_BACKEND="tensorflow")
    load_before = round(os.getloadavg()[0], 2)
    try:
        elapsed, code, output = run_command(args, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"exit_code": None, "process_wall_s": timeout, "error": "timed out"}
    summary = read_json(folder / "summary.json") or {}
    record: Json = {
        "exit_code": code,
        "process_wall_s": elapsed,
        "load_1min": [load_before, round(os.getloadavg()[0], 2)],  # before and after the run
    }
    if code != 0 or not summary:
        record["error"] = output.strip()[-600:]
        return record
    for key in (
        "images_per_second",
        "data_wait_fraction",
        "wall_seconds",
        "eval_seconds",
        "framework",
        "device",
        "params",
        "amp",
        "precision",
        "channels_last",
        "compile",
    ):
        record[key] = summary.get(key)
    return record


def run_rounds(
    configs: list[Config],
    rounds: int,
    budget_s: float | None = None,
    timeouts: dict[str, float] | None = None,
) -> dict[str, Json]:
    """Each configuration ``rounds`` times, interleaved with a rotating order; no new round
    starts once ``budget_s`` seconds have gone by (a busy machine gives fewer runs)."""
    scratch = Path(tempfile.mkdtemp(prefix="resgen-train-bench-"))
    runs: dict[str, list[Json]] = {c.key: [] for c in configs}
    started = time.perf_counter()
    try:
        for index in range(rounds):
            if index and budget_s is not None and time.perf_counter() - started > budget_s:
                break
            shift = index % len(configs)
            for config in configs[shift:] + configs[:shift]:
                folder = scratch / f"{config.key.replace(' ', '_').replace('/', '_')}-{index}"
                timeout = (timeouts or {}).get(config.key, RUN_TIMEOUT_S)
                runs[config.key].append(train_once(config, folder, timeout))
                print(f"  {config.key}: {runs[config.key][-1].get('images_per_second')}")
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results: dict[str, Json] = {}
    for config in configs:
        done = runs[config.key]
        speeds = [r["images_per_second"] for r in done if r.get("images_per_second")]
        results[config.key] = {
            "config": asdict(config),
            "timed_images_per_run": (config.steps - 1) * config.batch,
            "images_per_second": summarize(speeds),
            "process_wall_s": summarize([r["process_wall_s"] for r in done]),
            "load_1min": _load_range(done),
            "runs": done,
        }
    return results


def _load_range(runs: list[Json]) -> Json | None:
    """The lowest and highest 1-minute load average seen before or after these runs."""
    loads = [value for run in runs for value in run.get("load_1min", [])]
    return {"min": min(loads), "max": max(loads)} if loads else None


def cuda_probe() -> str | None:
    """The CUDA device's name, or None (asked of a child process: no torch import here)."""
    code = "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return name or None


def loader_ceiling(size: int, batch: int, reps: int) -> Json:
    """Images/s the synthetic source produces on one host core (each data worker runs one);
    on a GPU the images are made on the device instead."""
    import numpy as np

    from resgen.train.data import SyntheticDataset

    data = SyntheticDataset(size, 3, 1000 if size > 64 else 10, 0)
    indices = np.arange(batch)
    data.images("train", indices)  # class textures cached, as in a run
    speeds = []
    for rep in range(reps):
        start = time.perf_counter()
        data.images("train", indices + batch * (rep + 1))
        speeds.append(batch / (time.perf_counter() - start))
    return {"size": size, "batch": batch, "images_per_second": summarize(speeds)}


def gpu_configs(device_name: str) -> list[Config]:
    """eager fp32; channels_last + bf16 autocast; the same under torch.compile."""
    variants = [
        ("eager fp32", ("--no-amp", "--no-channels-last")),
        ("channels_last + bf16", ("--amp", "--channels-last")),
        ("channels_last + bf16 + compile", ("--amp", "--channels-last", "--compile")),
    ]
    configs = []
    for spec, steps, batch in (("resnet50", 60, 256), ("resnet20_cifar", 200, 512)):
        for name, options in variants:
            configs.append(
                Config(spec, "torch", steps, batch, options, f"{spec} torch cuda {name}", "cuda")
            )
    return configs


# Issue 22: the arithmetic of a training step on this CPU. Torch: float32, bf16 autocast, bf16 +
# channels_last (what `resgen train` now picks by default on a CPU with AMX or AVX512-BF16: that
# configuration is run with no option at all, the issue's own command) and the default under
# --compile. Keras: float32, the default (mixed_bfloat16 on such a CPU) and the default with
# jit_compile (XLA). Each group alternates its configurations, round after round.
F32 = ("--no-amp", "--no-channels-last")
PRECISION_VARIANTS = {
    "torch": [
        ("float32", F32),
        ("bf16", ("--amp", "--no-channels-last")),
        ("default (bf16 + channels_last on a bf16 CPU)", ()),
        ("default + --compile", ("--compile",)),
    ],
    "keras": [
        ("float32", ("--no-amp",)),
        ("default (mixed_bfloat16 on a bf16 CPU)", ()),
        ("default + --compile (XLA)", ("--compile",)),
    ],
}
COMPILE_TIMEOUT_S = 480  # torch.compile of a ResNet-50 step takes minutes on two cores


# (spec, backend, steps, batch, rounds); resnet20_cifar torch runs the command (40 steps
# of the default batch, 128). The CIFAR groups are their own section (benchmarks/precision.py),
# so that they can be rerun on a quieter machine without the rest of this one.
CIFAR_PRECISION = [
    ("resnet20_cifar", "torch", 40, 128, 2),
    ("resnet20_cifar", "keras", 30, 128, 1),
]
IMAGENET_PRECISION = [("resnet50", "torch", 6, 8, 1), ("resnet50", "keras", 6, 8, 1)]
PRECISION_TIMEOUT_S = 480  # a bf16 run on an oversubscribed CPU can take minutes


def precision_groups(
    plan: list[tuple[str, str, int, int, int]], quick: bool
) -> list[tuple[list[Config], int, float]]:
    """(configurations, rounds, budget) per spec and backend."""
    if quick:
        plan = [(spec, backend, 3, 8, 1) for spec, backend, *_ in plan]
    groups = []
    for spec, backend, steps, batch, rounds in plan:
        configs = [
            Config(spec, backend, steps, batch, options, f"{spec} {backend} {name}")
            for name, options in PRECISION_VARIANTS[backend]
        ]
        groups.append((configs, rounds, 60.0 if quick else 1200.0))
    return groups


def run_precision(plan: list[tuple[str, str, int, int, int]], quick: bool) -> dict[str, Json]:
    results: dict[str, Json] = {}
    for configs, rounds, budget in precision_groups(plan, quick):
        timeouts = {
            c.key: COMPILE_TIMEOUT_S if "--compile" in c.options else PRECISION_TIMEOUT_S
            for c in configs
        }
        found = run_rounds(configs, rounds, budget_s=budget, timeouts=timeouts)
        base = found[configs[0].key]["runs"]
        for config in configs:
            result = found[config.key]
            pairs = zip(result["runs"], base, strict=False)  # the same round: run side by side
            result["speedup_vs_float32"] = summarize(
                [
                    run["images_per_second"] / ref["images_per_second"]
                    for run, ref in pairs
                    if run.get("images_per_second") and ref.get("images_per_second")
                ]
            )
        results.update(found)
    return results


def run(quick: bool) -> Json:
    # (spec, steps): fewer steps for the deep ones; the same batch for all
    depth_plan = [("resnet20_cifar", 4), ("resnet32_cifar", 4), ("resnet56_cifar", 4)]
    if not quick:
        depth_plan = [
            ("resnet20_cifar", 20),
            ("resnet32_cifar", 16),
            ("resnet44_cifar", 12),
            ("resnet56_cifar", 12),
            ("resnet110_cifar", 8),
            ("resnet1202_cifar", 4),
        ]
    depth = [
        Config(spec, "torch", steps, 16 if quick else 32, label=f"depth {spec}")
        for spec, steps in depth_plan
    ]
    data: Json = {
        "launcher": f"python -m resgen train ... --eval-images {EVAL_IMAGES}",
        "data": "synthetic",
        "published_resnet50": PUBLISHED,
    }
    print("training: float32, bf16, bf16 + channels_last, --compile")
    data["precision"] = run_precision(IMAGENET_PRECISION, quick)
    print("training: depth series")
    data["depth"] = run_rounds(depth, rounds=1)
    data["loader_ceiling"] = [
        loader_ceiling(224, 16 if quick else 64, 2 if quick else 5),
        loader_ceiling(32, 128, 2 if quick else 5),
    ]
    device_name = cuda_probe()
    if device_name is None:
        data["gpu"] = {"skipped": "skipped: no CUDA device on this machine"}
    else:
        print(f"training: GPU variants on {device_name}")
        data["gpu"] = {
            "device": device_name,
            "runs": run_rounds(gpu_configs(device_name), rounds=1 if quick else 3),
        }
    data["working_directory"] = ROOT.name
    return data


if __name__ == "__main__":
    section_main("training", run)


def _first(result: Json, key: str) -> Any:
    return next((r[key] for r in result["runs"] if key in r), None)


def _rows(results: dict[str, Json]) -> list[Json]:
    rows = []
    for key, result in results.items():
        config = result["config"]
        errors = [r["error"].splitlines()[-1][:100] for r in result["runs"] if "error" in r]
        rows.append(
            {
                "key": key,
                "spec": config["spec"],
                "backend": config["backend"],
                "device": _first(result, "device") or config["device"],
                "budget": f"{config['steps']} x {config['batch']}",
                "speed": spread(result["images_per_second"], 1) if not errors else errors[0],
                "wait": _first(result, "data_wait_fraction"),
                "load": _load(result),
            }
        )
    return rows


def _load(result: Json) -> str | None:
    load = result.get("load_1min")
    return None if not load else f"{load['min']:.1f}-{load['max']:.1f}"


def precision_report(results: Json | None) -> list[str]:
    """The float32 / bf16 / channels_last / --compile table, with the load beside each row."""
    lines = ["### float32, bf16, bf16 + channels_last and --compile on this CPU", ""]
    if not results:
        return [*lines, "_not run_", ""]
    lines += [
        "Configurations of one spec and backend alternate run by run (rotated each round); "
        "speed-up = images/s over the float32 run of the same round, median over rounds. "
        "`default` is `resgen train` with no precision option: bf16 autocast + channels_last "
        "(torch) or mixed_bfloat16 (Keras) where the CPU has AMX or AVX512-BF16, as here; "
        "the precision column is what each run's summary.json says ran. The 1-minute load "
        "average before and after each run is beside its figures: the machine was shared with "
        "other work, so absolute images/s are pessimistic and the speed-ups carry its noise. "
        "With 2 threads on this machine torch's bf16 steps ran several-fold slower than with "
        "one (the resnet50 rows; in the training section's run the resnet20_cifar bf16 runs "
        "with 2 threads, at a load of 9, did not finish 40 steps in 240 s where float32 ran "
        "at 78 images/s), hence OMP_NUM_THREADS=1 for the resnet20_cifar rows; see "
        "docs/training.md.",
        "",
    ]
    rows = []
    for key, result in results.items():
        row = _rows({key: result})[0]
        first = next((r for r in result["runs"] if r.get("precision")), {})
        layout = ", channels_last" if first.get("channels_last") else ""
        row["precision"] = (
            f"{first['precision']}{layout}{', compile' if first.get('compile') else ''}"
            if first
            else None
        )
        speedup = result.get("speedup_vs_float32") or {}
        row["speedup"] = (
            f"{speedup['median']:.2f}x ({speedup['min']:.2f}-{speedup['max']:.2f})"
            if speedup.get("n")
            else None
        )
        rows.append(row)
    lines += table(
        [
            Column("configuration", "key"),
            Column("device", "device"),
            Column("ran as", "precision"),
            Column("steps x batch", "budget", "r"),
            Column("images/s (median, min-max)", "speed", "r"),
            Column("speed-up vs float32 (min-max)", "speedup", "r"),
            Column("1-min load", "load", "r"),
        ],
        rows,
    )
    return lines


def report(train: Json | None, gen: Json | None, precision: Json | None = None) -> list[str]:
    """The training section's Markdown; ``precision`` (benchmarks/precision.py's JSON) adds the
    CIFAR rows to the precision table and, with the training section's own, makes the main
    table: each spec and backend as `resgen train` runs it by default."""
    lines = ["## Training throughput (`resgen train --data synthetic`)", ""]
    if not train:
        return [*lines, "_not run_", ""]
    lines += [
        provenance(train),
        "",
        f"Images/s from each run's summary.json (the first step "
        f"excluded), launched as `{train['launcher']}`.",
        "",
    ]
    columns = [
        Column("spec", "spec"),
        Column("backend", "backend"),
        Column("device", "device"),
        Column("steps x batch", "budget", "r"),
        Column("images/s (median, min-max)", "speed", "r"),
        Column("data_wait_fraction (first run)", "wait", "r", fixed(4)),
        Column("1-min load", "load", "r"),
    ]
    groups = dict((precision or {}).get("groups") or {})  # the later CIFAR runs win
    for key, result in (train.get("precision") or {}).items():
        groups.setdefault(key, result)
    defaults = {key: result for key, result in groups.items() if " default (" in key}
    lines += table(columns, _rows(defaults or train.get("cpu", {})))
    if precision:
        threads = precision.get("omp_num_threads")
        shown = f"OMP_NUM_THREADS={threads}" if threads else "torch's default thread count"
        lines += [
            f"resnet20_cifar rows (benchmarks/precision.py, {shown}): {provenance(precision)}",
            "",
        ]
    lines += precision_report(groups)
    gpu = train["gpu"]
    lines += ["GPU variants (torch: eager fp32, channels_last + bf16, + torch.compile):", ""]
    if "skipped" in gpu:
        lines += [f"_{gpu['skipped']}_", ""]
    else:
        lines += [f"Device: {gpu['device']}.", ""]
        lines += table([Column("configuration", "key"), *columns[3:]], _rows(gpu["runs"]))
    ceilings = ", ".join(
        f"{c['size']} x {c['size']}: {c['images_per_second']['median']:,.0f}"
        for c in train.get("loader_ceiling", [])
    )
    lines += [
        f"Synthetic images made per second by one host core (one data worker): {ceilings}.",
        "",
        "Published ResNet-50 training figures, for context:",
        "",
    ]
    lines += table(
        [
            Column("source", "source"),
            Column("device", "device"),
            Column("mode", "mode"),
            Column("images/s", "ips", "r", fixed(0)),
        ],
        train["published_resnet50"],
    )
    specs = gen["per_spec"]["specs"] if gen else {}
    depth = [
        {
            **_rows({k: r})[0],
            "depth": specs.get(r["config"]["spec"], {}).get("depth"),
            "mmacs": specs.get(r["config"]["spec"], {}).get("macs", 0) / 1e6 or None,
        }
        for k, r in train["depth"].items()
    ]
    lines += ["Throughput against depth (CIFAR ResNets, torch, CPU, one run each):", ""]
    lines += table(
        [
            Column("spec", "spec"),
            Column("depth", "depth", "r"),
            Column("MMACs/image", "mmacs", "r", fixed(1)),
            Column("steps x batch", "budget", "r"),
            Column("images/s", "speed", "r"),
            Column("1-min load", "load", "r"),
        ],
        depth,
    )
    return [*lines, "![training vs depth](training_vs_depth.png)", ""]
