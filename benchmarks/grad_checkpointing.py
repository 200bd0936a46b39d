"""Peak memory saved by gradient checkpointing: the generated resnet50, one training step on CPU.

``python -m benchmarks.grad_checkpointing [--quick]``. Each measurement is a fresh child process
(``python -m benchmarks.grad_checkpointing --child on|off``) that builds the committed
``generated/torch/resnet50.py``, makes the batch, reads its resident set size, then runs one
forward and backward pass (train mode, with or without ``set_grad_checkpointing(True)``) and
reads the kernel's high-water mark (``VmHWM``): the step's peak is the difference. The kernel
counts every page the allocator touched, so nothing traces Python allocations or slows the step.
Children alternate off, on, off, on, ... so a drift of the machine favours neither.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import GENERATED, ROOT, Json, quiet_env, section_main, summarize
from benchmarks.markdown import Column, provenance, table

BATCH, SIZE = 32, 224
QUICK_BATCH, QUICK_SIZE = 4, 112


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` figure (``VmRSS``, ``VmHWM``), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def child(checkpointing: bool, batch: int, size: int) -> Json:
    """One training step in this process; its peak memory above what was resident before."""
    import importlib.util

    import torch

    torch.manual_seed(0)
    path = GENERATED / "torch" / "resnet50.py"
    module_spec = importlib.util.spec_from_file_location("generated_resnet50", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    model = module.resnet50().train()
    model.set_grad_checkpointing(checkpointing)
    x = torch.randn(batch, 3, size, size)
    target = torch.randint(0, 1000, (batch,))
    before = _status_kib("VmRSS")
    started = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), target)
    loss.backward()
    seconds = time.perf_counter() - started
    peak = _status_kib("VmHWM")
    return {
        "checkpointing": checkpointing,
        "rss_before_mib": before / 1024,
        "peak_rss_mib": peak / 1024,
        "step_peak_mib": (peak - before) / 1024,
        "step_s": seconds,
        "loss": float(loss),
    }


def run(quick: bool) -> Json:
    import torch

    batch, size = (QUICK_BATCH, QUICK_SIZE) if quick else (BATCH, SIZE)
    rounds = 1 if quick else 2
    found: dict[str, list[Json]] = {"off": [], "on": []}
    for _ in range(rounds):
        for mode in ("off", "on"):
            args = [sys.executable, "-m", "benchmarks.grad_checkpointing", "--child", mode]
            args += ["--batch", str(batch), "--size", str(size)]
            done = subprocess.run(
                args, cwd=ROOT, env=quiet_env(), capture_output=True, text=True, check=True
            )
            found[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    result: Json = {
        "torch": torch.__version__,
        "spec": "resnet50",
        "batch": batch,
        "size": size,
        "rounds": rounds,
        "measure": "VmHWM - VmRSS before the step, per fresh child process",
    }
    for mode, runs in found.items():
        result[mode] = {
            "step_peak_mib": summarize([r["step_peak_mib"] for r in runs]),
            "peak_rss_mib": summarize([r["peak_rss_mib"] for r in runs]),
            "step_s": summarize([r["step_s"] for r in runs]),
        }
    off, on = (result[m]["step_peak_mib"]["median"] for m in ("off", "on"))
    result["saved_fraction"] = 1 - on / off
    losses = {round(r["loss"], 5) for runs in found.values() for r in runs}
    result["same_loss"] = len(losses) == 1
    return result


def report(data: Json | None) -> list[str]:
    """The section's Markdown: peak memory of one step with and without checkpointing."""
    lines = ["## Gradient checkpointing (generated resnet50, CPU)", ""]
    if not data:
        return [*lines, "_not run_", ""]
    lines += [
        provenance(data),
        "",
        f"One training step (forward and backward) at batch {data['batch']}, "
        f"{data['size']} x {data['size']}, in a fresh process each time ({data['rounds']} "
        "each, alternating); step peak = the kernel's high-water mark (VmHWM) minus the "
        "resident size before the step, so nothing traces allocations. "
        f"Checkpointing saves {data['saved_fraction']:.0%} of the step's peak.",
        "",
    ]

    def mib(summary: Json) -> str:
        return f"{summary['median']:.0f} ({summary['min']:.0f}-{summary['max']:.0f})"

    lines += table(
        [
            Column("set_grad_checkpointing", "mode"),
            Column("step peak MiB (median, min-max)", lambda r: mib(r["step_peak_mib"]), "r"),
            Column("process peak MiB", lambda r: mib(r["peak_rss_mib"]), "r"),
            Column("step s", lambda r: f"{r['step_s']['median']:.1f}", "r"),
        ],
        [{"mode": mode == "on", **data[mode]} for mode in ("off", "on")],
    )
    return lines


def main() -> None:
    if "--child" in sys.argv:
        import argparse

        parser = argparse.ArgumentParser(prog="python -m benchmarks.grad_checkpointing")
        parser.add_argument("--child", choices=("on", "off"), required=True)
        parser.add_argument("--batch", type=int, default=BATCH)
        parser.add_argument("--size", type=int, default=SIZE)
        options = parser.parse_args()
        print(json.dumps(child(options.child == "on", options.batch, options.size)))
        return
    section_main("grad_checkpointing", run)


if __name__ == "__main__":
    main()
