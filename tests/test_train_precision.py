"""bf16 on CPUs that compute it natively: detected as torch reports it, the default there, named
in the summary and the progress line, ``--no-amp`` keeps float32, and it trains as float32 does.

The convergence check is the issue's: the same short run in float32 and in bf16 reaches the
same loss within noise. Its tolerance is stated below with the noise it is measured against.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers import SPECS

torch = pytest.importorskip("torch")

RESNET20 = SPECS / "resnet20_cifar.yaml"
TINY = ("--steps", "2", "--batch-size", "4", "--eval-images", "0", "--device", "cpu",
        "--workers", "0")  # fmt: skip


def train(*args: str | Path) -> Result:
    from resgen.cli.commands import main

    runner = CliRunner(env={"COLUMNS": "200"})
    return runner.invoke(main, ["train", *(str(a) for a in args)], catch_exceptions=False)


def summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


def cpuinfo_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_the_probe_agrees_with_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's report (what the trainer asks) against the kernel's CPU flags, independently."""
    from resgen.train import hardware

    monkeypatch.delenv(hardware.OVERRIDE, raising=False)
    native = bool({"amx_bf16", "avx512_bf16"} & cpuinfo_flags())
    assert hardware._torch_says() == native  # torch is loaded in this process
    assert hardware._cpuinfo_says() == native  # the path Keras on TensorFlow takes
    assert hardware.cpu_bf16() == native
    monkeypatch.setenv(hardware.OVERRIDE, "0")
    assert hardware.cpu_bf16() is False
    monkeypatch.setenv(hardware.OVERRIDE, "1")
    assert hardware.cpu_bf16() is True


@pytest.mark.parametrize(
    ("native", "options", "precision", "channels_last"),
    [
        ("1", (), "bf16", True),  # a CPU with AMX or AVX512-BF16: the GPU defaults
        ("1", ("--no-amp",), "float32", True),  # --no-amp keeps float32
        ("1", ("--no-amp", "--no-channels-last"), "float32", False),
        ("0", (), "float32", False),  # elsewhere bf16 would be emulated: float32
        ("0", ("--amp",), "bf16", False),  # asked for: autocast, whatever the CPU
    ],
)
def test_cpu_defaults_and_what_the_run_says(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    native: str,
    options: tuple[str, ...],
    precision: str,
    channels_last: bool,
) -> None:
    monkeypatch.setenv("RESGEN_CPU_BF16", native)
    result = train(RESNET20, *TINY, "--log-every", "1", "--out", tmp_path, *options)
    assert result.exit_code == 0, result.output
    record = summary(tmp_path)
    assert record["precision"] == precision
    assert record["amp"] is (precision == "bf16")
    assert record["channels_last"] is channels_last
    layout = ", channels_last" if channels_last else ""
    assert f"cpu (1 thread), {precision}{layout}, data" in result.output  # the start line
    assert f"resnet20_cifar ({precision}) step 2/2: loss" in result.output  # the progress line
    assert f"resnet20_cifar ({precision}): loss" in result.output  # the result line


def test_channels_last_and_autocast_reach_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the summary says is what runs: the weights are channels_last and the convolutions
    compute in bf16 (their outputs are bf16 under the trainer's autocast)."""
    from helpers import generated_factory

    from resgen.train.backend import ModelInputs
    from resgen.train.config import TrainConfig, World
    from resgen.train.torch_trainer import TorchTrainer

    monkeypatch.setenv("RESGEN_CPU_BF16", "1")
    inputs = ModelInputs(10, 32, 3, ((0.5,) * 3, (0.25,) * 3))
    trainer = TorchTrainer(
        generated_factory("torch", "resnet20_cifar"),
        inputs,
        TrainConfig(device="cpu"),
        World(),
        torch.device("cpu"),
    )
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    seen: list[torch.dtype] = []
    conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    images = torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8)
    trainer.train_step((images, torch.zeros(4, dtype=torch.long)), 0.01)
    assert seen == [torch.bfloat16]


# --- convergence ----------------------------------------------------------------------------

STEPS = 60
# Tolerance on the training loss averaged over the last 30 of 60 steps (three log windows of
# 10 steps x 32 images). The noise it is judged against: the same float32 run with seed 1
# instead of 0 ends 0.23 apart in its last window (1.085 against 0.852, measured on the
# development machine), while bf16 against float32 at one seed ended 0.04 (seed 0) and 0.004
# (seed 1) apart. 0.15 is below the seed-to-seed noise and well above the bf16 effect.
TOLERANCE = 0.15


def last_windows(folder: Path, count: int = 3) -> float:
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return sum(line["loss"] for line in lines[-count:]) / count


def test_bf16_converges_like_float32(tmp_path: Path) -> None:
    """ResNet-20 on the synthetic task, 60 steps of batch 32, seed 0, in float32 and in bf16 +
    channels_last (asked for explicitly, so the test means the same on every CPU)."""
    run = ("--steps", str(STEPS), "--batch-size", "32", "--log-every", "10", "--eval-images",
           "0", "--device", "cpu", "--seed", "0")  # fmt: skip
    modes = {
        "float32": ("--no-amp", "--no-channels-last"),
        "bf16": ("--amp", "--channels-last"),
    }
    results = {}
    for mode, options in modes.items():
        folder = tmp_path / mode
        done = train(RESNET20, *run, "--out", folder, *options)
        assert done.exit_code == 0, done.output
        results[mode] = summary(folder) | {"late_loss": last_windows(folder)}
    f32, b16 = results["float32"], results["bf16"]
    assert b16["precision"] == "bf16" and f32["precision"] == "float32"
    # the same initial weights and batch: the first loss differs by bf16 rounding only
    assert b16["first_loss"] == pytest.approx(f32["first_loss"], abs=0.02)
    for record in (f32, b16):  # both learned (from ln 10 = 2.30 to well under it)
        assert record["late_loss"] < 0.75 * record["first_loss"], record
    assert abs(b16["late_loss"] - f32["late_loss"]) <= TOLERANCE, (f32, b16)


def test_keras_takes_mixed_bfloat16_on_the_same_cpus(tmp_path: Path) -> None:
    """Keras (on TensorFlow, where torch's report is not at hand) defaults to mixed_bfloat16
    where the CPU computes bf16 natively."""
    pytest.importorskip("keras")
    from helpers import framework_env, run_resgen

    env = framework_env("tensorflow", RESGEN_CPU_BF16="1", COLUMNS="200")
    done = run_resgen("train", RESNET20, "--backend", "keras", *TINY, "--out", tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert summary(tmp_path)["precision"] == "bf16"
    assert "resnet20_cifar (bf16): loss" in done.stderr
