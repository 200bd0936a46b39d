"""Training throughput of ``resgen train`` (images/s from summary.json), CPU and GPU variants.

Every run is its own process (``python -m resgen train ... --eval-images 64``: the end-of-run
evaluation, outside the timed steps, on 64 held-out images). Runs of different configurations
alternate
(round 1: A B C D, round 2: B C D A, ...), so a slow minute on the machine spreads over all
of them. ``images_per_second`` excludes the first step (tracing, compilation, allocator
warm-up); wall time is also recorded, start-up, data statistics and evaluation included.
"""

from __future__ import annotations

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


def train_once(config: Config, folder: Path) -> Json:
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
    try:
        elapsed, code, output = run_command(args, env=env, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"exit_code": None, "process_wall_s": RUN_TIMEOUT_S, "error": "timed out"}
    summary = read_json(folder / "summary.json") or {}
    record: Json = {"exit_code": code, "process_wall_s": elapsed}
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
        "channels_last",
        "compile",
    ):
        record[key] = summary.get(key)
    return record


def run_rounds(
    configs: list[Config], rounds: int, budget_s: float | None = None
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
                runs[config.key].append(train_once(config, folder))
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
            "runs": done,
        }
    return results


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


def run(quick: bool) -> Json:
    cifar = [
        Config("resnet20_cifar", "torch", 6 if quick else 30, 32 if quick else 128),
        Config("resnet20_cifar", "keras", 6 if quick else 30, 32 if quick else 128),
    ]
    imagenet = [
        Config("resnet50", "torch", 3 if quick else 5, 4 if quick else 8),
        Config("resnet50", "keras", 3 if quick else 5, 4 if quick else 8),
    ]
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
    print("training: main configurations")
    data["cpu"] = run_rounds(cifar, rounds=1 if quick else 3, budget_s=120)
    data["cpu"].update(run_rounds(imagenet, rounds=1 if quick else 2, budget_s=120))
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
            }
        )
    return rows


def report(train: Json | None, gen: Json | None) -> list[str]:
    """The training section's Markdown."""
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
    ]
    lines += table(columns, _rows(train["cpu"]))
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
        ],
        depth,
    )
    return [*lines, "![training vs depth](training_vs_depth.png)", ""]
