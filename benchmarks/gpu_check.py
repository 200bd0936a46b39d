"""The steps of ``scripts/gpu_check.sh`` (which sets up the environment, then runs this).

On a CUDA machine: the torchvision/timm comparison tests (``pytest -m reference``), ``resgen
train`` of resnet20_cifar and resnet50 in eager fp32, bf16 + channels_last, and + torch.compile
(each with images/s and data_wait_fraction), resnet50 on a folder of JPEGs (data workers),
two-GPU DistributedDataParallel where two GPUs exist, and the Keras trainer (Keras on PyTorch).
Without CUDA the same steps run as a CPU smoke run: tiny budgets, compile for resnet20 only, DDP
as two gloo processes. Each step has a timeout and the whole check a budget: a step that would
start past it is recorded as skipped (a CPU smoke run gets an hour: it must run every step).
Writes ``OUT/gpu_check.json``, ``OUT/README.md`` and
each step's log in ``OUT/logs/`` (run folders and checkpoints go to a temporary folder);
exit 1 if a step failed.

Usage: ``python -m benchmarks.gpu_check --out benchmarks/results/gpu [--budget-s 460]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import ROOT, Json, spec_file, write_json
from benchmarks.markdown import Column, fixed, table

SUMMARY_KEYS = (
    "images_per_second",
    "data_wait_fraction",
    "device",
    "framework",
    "amp",
    "channels_last",
    "compile",
    "workers",
    "world_size",
    "steps",
    "batch_size",
    "first_loss",
    "final_loss",
    "test_accuracy",
    "wall_seconds",
)


CPU_STEP_S = 600  # a smoke run on a small, shared CPU: slow, but it must run every step
CPU_BUDGET_S = 3600


@dataclass(frozen=True)
class Step:
    label: str
    argv: list[str]
    timeout_s: int
    env: dict[str, str] = field(default_factory=dict)
    run_folder: Path | None = None  # where summary.json lands


def _file_name(label: str) -> str:
    """``resnet20_cifar torch bf16`` -> ``resnet20_cifar-torch-bf16``: a plain file name."""
    kept = "".join(c if c.isalnum() or c in "_-" else " " for c in label)
    return "-".join(kept.split())


def probe() -> Json:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cores": len(os.sched_getaffinity(0)),
    }


def plan(scratch: Path, cuda: bool, gpus: int) -> list[Step]:
    python = sys.executable
    runs = scratch / "runs"
    steps = [
        Step(
            "pytest -m reference (torchvision, timm)",
            [
                python,
                "-m",
                "pytest",
                "-q",
                "-m",
                "reference",
                "-p",
                "no:cacheprovider",
                # the files scripts/check_references.sh runs: the only ones marked reference
                "tests/test_references.py",
                "tests/test_timm_reference.py",
                "tests/test_backbone_reference.py",
            ],
            170 if cuda else 120,
        ),
    ]

    def train(label: str, spec: str, budget: tuple[str, ...], *options: str, **env: str) -> Step:
        folder = runs / _file_name(label)
        argv = [
            python,
            "-m",
            "resgen",
            "train",
            str(spec_file(spec)),
            *budget,
            "--log-every",
            "20",
            "--out",
            str(folder),
            "--force",
            *options,
        ]
        return Step(label, argv, 240 if cuda else CPU_STEP_S, env, folder)

    r20 = (
        ("--steps", "200", "--batch-size", "512")
        if cuda
        else ("--steps", "3", "--batch-size", "16")
    )
    r50 = (
        ("--steps", "60", "--batch-size", "256") if cuda else ("--steps", "2", "--batch-size", "4")
    )
    evals = ("--eval-images", "1024" if cuda else "16")
    variants = [
        ("eager fp32", ("--no-amp", "--no-channels-last")),
        ("bf16 channels_last", ("--amp", "--channels-last")),
        ("bf16 channels_last compile", ("--amp", "--channels-last", "--compile")),
    ]
    for spec, budget in (("resnet20_cifar", r20), ("resnet50", r50)):
        for name, options in variants:
            if "--compile" in options and spec == "resnet50" and not cuda:
                continue  # inductor's CPU build of ResNet-50 takes minutes on a small machine
            steps.append(train(f"{spec} torch {name}", spec, budget, *options, *evals))
    jpegs = scratch / "jpegs"
    steps.append(
        train(
            "resnet50 torch folder of JPEGs bf16 channels_last",
            "resnet50",
            ("--steps", "20", "--batch-size", "256") if cuda else r50,
            "--data",
            f"folder:{jpegs}",
            "--amp",
            "--channels-last",
            *evals,
        )
    )
    if gpus >= 2 or not cuda:
        ddp = [python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
        spec, budget = (
            ("resnet50", ("--steps", "60", "--batch-size", "512"))
            if cuda
            else ("resnet20_cifar", r20)
        )
        step = train(f"{spec} torch DDP x2", spec, budget, *evals)
        steps.append(Step(step.label, ddp + step.argv[1:], step.timeout_s, {}, step.run_folder))
    keras = ("--backend", "keras", *evals)
    k20 = ("--steps", "100", "--batch-size", "256") if cuda else r20
    k50 = ("--steps", "30", "--batch-size", "128") if cuda else r50
    steps.append(
        train(
            "resnet20_cifar keras (torch backend)",
            "resnet20_cifar",
            k20,
            *keras,
            KERAS_BACKEND="torch",
        )
    )
    steps.append(
        train("resnet50 keras (torch backend)", "resnet50", k50, *keras, KERAS_BACKEND="torch")
    )
    return steps


def run_step(step: Step, logs: Path, deadline: float) -> Json:
    if time.monotonic() + 20 > deadline:
        return {"status": "skipped: out of the check's time budget"}
    timeout = max(20, min(step.timeout_s, int(deadline - time.monotonic())))
    log = logs / f"{_file_name(step.label)}.log"
    started = time.monotonic()
    env = {**os.environ, "PYTHONHASHSEED": "0", **step.env}
    with log.open("w") as stream:
        try:
            code = subprocess.run(
                step.argv,
                stdout=stream,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                timeout=timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
    record: Json = {"seconds": round(time.monotonic() - started, 1), "log": log.name}
    if code is None:
        record["status"] = f"timed out after {timeout} s"
    elif code == 5 and step.run_folder is None:
        record["status"] = "failed: pytest collected no reference test (exit 5)"
    elif code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        record["status"] = f"failed (exit {code}): {tail[0][:160]}"
    else:
        record["status"] = "ok"
        if step.run_folder is None:
            record["tests"] = log.read_text(errors="replace").strip().splitlines()[-1][:160]
    summary_path = step.run_folder / "summary.json" if step.run_folder else None
    if summary_path is not None and summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        record.update({k: summary.get(k) for k in SUMMARY_KEYS})
    return record


def report(result: Json) -> list[str]:
    machine = result["machine"]
    where = ", ".join(machine["gpus"]) or f"no CUDA: CPU smoke run on {machine['cores']} cores"
    lines = [
        "# resgen GPU check",
        "",
        f"Generated by `bash scripts/gpu_check.sh` (benchmarks/gpu_check.py) on "
        f"{result['date_utc']}: {where}; torch {machine['torch']}, Python {machine['python']}; "
        f"{result['wall_s']:.0f} s in all (set-up not included).",
        "",
    ]
    lines += table(
        [
            Column("step", "label"),
            # The reference step's status carries pytest's tally (skipped where timm is absent).
            Column("status", lambda r: r["status"] + (f": {r['tests']}" if "tests" in r else "")),
            Column("images/s", "images_per_second", "r", fixed(1)),
            Column("data_wait_fraction", "data_wait_fraction", "r", fixed(4)),
            Column("device", "device"),
            Column(
                "steps x batch",
                lambda r: r.get("steps") and f"{r['steps']} x {r['batch_size']}",
                "r",
            ),
            Column("s", "seconds", "r", fixed(0)),
        ],
        [{"label": label, **record} for label, record in result["steps"].items()],
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu")
    parser.add_argument("--budget-s", type=int, default=460)
    options = parser.parse_args()
    started = time.monotonic()
    out: Path = options.out.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="resgen-gpu-check-"))  # run folders, checkpoints
    logs = out / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    machine = probe()
    cuda = bool(machine["cuda"])
    deadline = started + (options.budget_s if cuda else max(options.budget_s, CPU_BUDGET_S))
    from benchmarks.data_path import write_jpegs

    write_jpegs(scratch / "jpegs", classes=8, per_class=64 if cuda else 6, side=(320, 256))
    result: Json = {
        "machine": machine,
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "steps": {},
    }
    for step in plan(scratch, cuda, len(machine["gpus"])):
        print(f"== {step.label}", flush=True)
        result["steps"][step.label] = record = run_step(step, logs, deadline)
        shown = {k: record.get(k) for k in ("status", "images_per_second", "data_wait_fraction")}
        print(f"   {shown}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    result["wall_s"] = round(time.monotonic() - started, 1)
    write_json(out / "gpu_check.json", result)
    (out / "README.md").write_text("\n".join(report(result)).rstrip() + "\n", encoding="utf-8")
    print(f"wrote {out / 'README.md'}")
    failed = [
        k for k, r in result["steps"].items() if not r["status"].startswith(("ok", "skipped"))
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
