"""``resgen train``: options bounded, workers capped, signals, full disks, locked run folders and
bounded normalisation statistics (issue 21, classes 3-6).

Truths: int64 and float32 limits (numpy's), the machine's usable cores (``os.sched_getaffinity``),
a float64 numpy computation of the statistics, the file system's contents, and ``flock``.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from helpers import framework_env, run_resgen, spec_path

pytest.importorskip("torch")

RESNET20 = spec_path("resnet20_cifar")
QUICK = ("--steps", "1", "--batch-size", "4", "--device", "cpu", "--eval-images", "4")


def train(*args: str | Path) -> Result:
    from resgen.cli.commands import main

    runner = CliRunner(env={"COLUMNS": "200"})
    return runner.invoke(main, ["train", *(str(a) for a in args)], catch_exceptions=False)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


# --------------------------------------------------------------------------------------------
# class 4: options bounded and checked before anything is written


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--steps", str(2**63), "--steps: must be at most 1,000,000,000, got 9,223,372,036,854"),
        ("--epochs", str(2**64), "--epochs: must be at most 1,000,000,000, got 18,446,744"),
        ("--lr", "1e308", "--lr: must be a positive finite number of at most 1000, got 1e+308"),
        ("--log-every", str(2**70), "--log-every: must be at most 9,223,372,036,854,775,807"),
        ("--eval-images", str(2**64), "--eval-images: must be at most 9,223,372,036,854,775,807"),
    ],
)
def test_numbers_past_their_bounds_are_one_line_and_write_nothing(
    option: str, value: str, message: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = train(RESNET20, *QUICK[2:], option, value, "--out", out)
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr).startswith(message), result.stderr
    assert not out.exists()


def test_epochs_whose_steps_overflow_are_refused_before_training(tmp_path: Path) -> None:
    """64 steps an epoch (8,192 synthetic images, batch 128): 20 million epochs are 1.28
    billion steps. In a process with a timeout: unchecked, the run would go on for ever."""
    out = tmp_path / "run"
    result = run_resgen(
        "train", RESNET20, "--epochs", "20000000", "--out", out, "--device", "cpu", timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert one_line(result.stderr) == (
        "--epochs: 20,000,000 epochs of 64 steps are 1,280,000,000 steps, more than 1,000,000,000"
    )
    assert not out.exists()


def test_workers_are_capped_by_the_usable_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine that gives the run one core, --workers 3 starts one worker."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    out = tmp_path / "run"
    result = train(RESNET20, *QUICK, "--workers", "3", "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["workers"] == 1


def test_a_second_interrupt_exits_at_once_and_quietly(tmp_path: Path) -> None:
    """A Ctrl-C after the checkpoint was saved, while the process shuts down (an exit handler
    here, DataLoader workers in a real run), ends it at once: status 130, nothing printed."""
    script = (
        "import atexit, os, signal, time\n"
        "from resgen.train.loop import StopRequest\n"
        "with StopRequest() as stop:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(0.1)\n"
        "assert stop.requested\n"
        "def shutting_down():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(5)\n"
        "    print('still here')\n"
        "atexit.register(shutting_down)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=framework_env(),
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "")


# --------------------------------------------------------------------------------------------
# class 3: a full disk names the file


def test_a_full_disk_names_the_checkpoint_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resgen.files

    real = os.replace

    def full(src: str, dst: str | os.PathLike[str]) -> None:
        if Path(dst).name == "checkpoint.pt":
            raise OSError(28, "No space left on device", src, None, str(dst))
        real(src, dst)

    monkeypatch.setattr(resgen.files.os, "replace", full)
    out = tmp_path / "run"
    result = train(RESNET20, *QUICK, "--out", out)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"{out / 'checkpoint.pt'}:1:1: cannot write it: No space left on device; "
        "it was left as it was"
    )
    assert "Traceback" not in result.output
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------------------------
# class 6: one run per folder


def test_a_folder_another_run_holds_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = os.open(out, os.O_RDONLY)  # as a running `resgen train` holds it
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = train(RESNET20, *QUICK, "--out", out)
    finally:
        os.close(holder)
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) == (
        f"--out: {out}: another resgen train run is using this folder; wait for it to end or "
        "use another --out"
    )
    assert list(out.iterdir()) == []
    result = train(RESNET20, *QUICK, "--out", out)  # released: the folder is free again
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------------------------
# class 5: normalisation statistics in bounded memory


class Fake:
    """A dataset of ``count`` images; :meth:`images` refuses to make more than ``budget``
    bytes at once (a view, never memory, is returned)."""

    name, num_classes, augment = "fake", 2, False

    def __init__(self, count: int, size: int, channels: int, budget: int, seed: int = 0) -> None:
        self.count, self.size, self.channels, self.budget = count, size, channels, budget
        rng = np.random.default_rng(seed)
        self.pixels = rng.integers(0, 256, (count, 1, 1, channels), dtype=np.uint8)
        self.largest = 0

    def labels(self, split: str) -> np.ndarray:
        return np.zeros(self.count, dtype=np.int64)

    def images(self, split: str, indices: np.ndarray) -> np.ndarray:
        made = len(indices) * self.size * self.size * self.channels
        assert made <= self.budget, f"{made:,} bytes of images asked for at once"
        self.largest = max(self.largest, made)
        shape = (len(indices), self.size, self.size, self.channels)
        return np.broadcast_to(self.pixels[indices], shape)


def test_statistics_of_huge_images_take_bounded_memory() -> None:
    """2048 px: 512 images are 6 GiB of uint8 (48 GiB as float64); read in bounded chunks."""
    from resgen.train.batches import STATS_BYTES, channel_stats

    data = Fake(1000, 2048, 3, budget=STATS_BYTES)
    mean, std = channel_stats(data)  # type: ignore[arg-type]
    assert 0 < data.largest <= STATS_BYTES
    assert all(0 <= m <= 1 for m in mean) and all(s > 0 for s in std)


def test_statistics_equal_a_float64_computation() -> None:
    from resgen.train.batches import STATS_SAMPLE, channel_stats

    data = Fake(700, 8, 3, budget=1 << 30, seed=3)
    rng = np.random.default_rng(0)  # the sample channel_stats documents: 512 of them, seed 0
    sample = np.sort(rng.permutation(700)[:STATS_SAMPLE])
    x = np.asarray(data.images("train", sample), dtype=np.float64) / 255
    mean, std = channel_stats(data)  # type: ignore[arg-type]
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=(0, 1, 2)), rtol=1e-9)
