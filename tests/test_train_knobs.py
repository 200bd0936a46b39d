"""``resgen train`` learns with the modern knobs on both backends (issue 10, item 4).

Four tiny members of timm's families, each ``extends`` a shipped zoo spec and keeps its knob:
squeeze-and-excitation (seresnet18), ECA (ecaresnet26t), blur-pool anti-aliasing (resnetblur18)
and group norm (resnet50_gn), at 32 px with narrow stages. One ``resgen train`` command per
backend trains all four on the synthetic task with the same budget; each loss must at least
halve, and the file each run trained must hold its knob's code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_resgen, spec_path

from resgen.check.validate import load_spec
from resgen.plan.planner import build_plan

# Each: the zoo spec it extends, what replaces the zoo's ImageNet sizes, and a line only the
# knob's code has, in the PyTorch and in the Keras file.
TINY: dict[str, tuple[str, str, tuple[str, str]]] = {
    "tiny_se": (
        "seresnet18",
        "stem: {type: cifar, channels: 16}\n"
        "stages: [{blocks: 1, channels: 16}, {blocks: 1, channels: 32, stride: 2}]\n",
        ("class SEModule(nn.Module):", "def squeeze_excitation("),
    ),
    "tiny_eca": (
        "ecaresnet26t",
        "stem: {type: deep, channels: 16, widths: [8, 8, 16]}\n"
        "stages: [{blocks: 1, channels: 8}, {blocks: 1, channels: 16, stride: 2}]\n",
        ("class EcaModule(nn.Module):", "def efficient_channel_attention("),
    ),
    "tiny_blur": (
        "resnetblur18",
        "stem: {type: imagenet, channels: 16}\n"
        "stages: [{blocks: 1, channels: 16}, {blocks: 1, channels: 32, stride: 2}]\n",
        ("class BlurPool2d(nn.Module):", "class BlurPool2D(layers.Layer):"),
    ),
    "tiny_gn": (
        "resnet50_gn",
        "stem: {type: cifar, channels: 16}\nnorm: {type: group, groups: 8}\n"
        "stages: [{blocks: 1, channels: 8}, {blocks: 1, channels: 16, stride: 2}]\n",
        ("return nn.GroupNorm(NORM_GROUPS, channels, eps=NORM_EPS)", "layers.GroupNormalization("),
    ),
}
# 150 steps at a rate of 0.2: group norm, the slowest learner here, ends near a third of its
# first loss on both backends (timm's zoo specs start their branches' last norm at zero).
BUDGET = ("--steps", "150", "--batch-size", "32", "--lr", "0.2", "--device", "cpu")
QUIET = ("--workers", "0", "--eval-images", "0", "--log-every", "50")


def write_specs(folder: Path) -> list[Path]:
    paths = []
    for name, (base, sizes, _) in TINY.items():
        path = folder / f"{name}.yaml"
        path.write_text(
            f"extends: {spec_path(base)}\nname: {name}\nnum_classes: 10\n"
            f"input: {{channels: 3, size: 32}}\n{sizes}",
            encoding="utf-8",
        )
        paths.append(path)
    return paths


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_each_knob_halves_the_loss(backend: str, tmp_path: Path) -> None:
    pytest.importorskip(backend)
    specs = write_specs(tmp_path)
    out = tmp_path / "runs"
    done = run_resgen("train", *specs, "--backend", backend, *BUDGET, *QUIET, "--out", out)
    assert done.returncode == 0, done.stderr[-4000:]
    for spec, (name, (_, _, code)) in zip(specs, TINY.items(), strict=True):
        record: dict[str, Any] = json.loads((out / name / "summary.json").read_text())
        assert record["backend"] == backend and record["steps"] == 150, record
        assert record["params"] == build_plan(load_spec(spec)).params
        assert record["first_loss"] / record["final_loss"] >= 2, record
        trained = (out / name / "model.py").read_text()
        assert code[0 if backend == "torch" else 1] in trained, name
