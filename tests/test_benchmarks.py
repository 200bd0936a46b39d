"""The benchmark and GPU-check commands name specs and files that exist.

The benchmarks run for minutes and the GPU check on a machine lent for minutes, so neither runs
in the suite; a command they would launch against a moved spec (the shipped specs live in family
folders) must fail here, not there. The bare loop runs for real, a few steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from benchmarks import gpu_check


@pytest.mark.parametrize(("cuda", "gpus"), [(False, 0), (True, 1), (True, 2)])
def test_every_gpu_check_step_names_an_existing_spec(tmp_path: Path, cuda: bool, gpus: int) -> None:
    steps = gpu_check.plan(tmp_path, cuda, gpus)
    trains = [step for step in steps if "train" in step.argv]
    assert len(trains) >= 6
    for step in trains:
        spec = Path(step.argv[step.argv.index("train") + 1])
        assert spec.is_file(), f"{step.label}: {spec} does not exist"
        assert spec.is_relative_to(REPO / "specs")
    # DDP runs only where it can: two GPUs, or on a CPU as a smoke run.
    assert any("DDP" in step.label for step in steps) == (gpus >= 2 or not cuda)


def test_the_bare_loop_trains_the_generated_model() -> None:
    command = ["benchmarks.bare_loop", "resnet20_cifar", "--steps", "2", "--batch-size", "4"]
    result = subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["images_per_second"] > 0
