"""timm's legacy SENet (``family: senet``, ``naming: legacy_senet``): the naming dialects, the
ceil-mode stem pool and basic blocks' ``last_act``, against timm's listing
(tests/data/timm_families.json) and PyTorch's documented pooling formula; Keras twins of small
legacy networks at even and odd maps.

The twins here stand in for the full-size round trips of tests/test_transfer.py, which runs
legacy_seresnet18's by default and the other eight with ``-m slow``: the deep ``layer0`` (whose
norms Keras names after their convs), the strided 3x3 projections, the half-wide first convs and
the overhanging pool window on odd maps are all in these few small blocks.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import DATA, generated_factory, render_generated

from resgen.check import rules
from resgen.components import naming
from resgen.components import stem as stem_family
from resgen.components.naming import Dialect, TorchBlockAttributes
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec

MODELS: dict[str, Any] = json.loads((DATA / "timm_families.json").read_text())["models"]
BLOCK_KEY = re.compile(r"^layer(\d)\.(\d+)\.")


def legacy(**overrides: Any) -> Spec:
    """A small legacy SENet: imagenet stem, two bottleneck stages, SE to channels // 16."""
    data: dict[str, Any] = {
        "name": "small_legacy",
        "num_classes": 5,
        "naming": "legacy_senet",
        "input": {"size": 32},
        "stem": {"type": "imagenet", "channels": 16, "pool_padding": "ceil"},
        "block": {"type": "bottleneck", "stride_on": "1x1", "attention": {"type": "se"}},
        "stages": [{"blocks": 2, "channels": 16}, {"blocks": 1, "channels": 32, "stride": 2}],
        "dropout": 0.2,
    }
    data["block"]["attention"]["divisor"] = 1
    for key, value in overrides.items():
        data[key] = value
    return Spec.model_validate(data)


@pytest.mark.parametrize("name", [name for name in MODELS if name.startswith("legacy_")])
def test_the_legacy_dialect_names_every_key_of_timms_legacy_senets(name: str) -> None:
    """Every block key of timm's legacy SENets parses to its stage and block, and the dialect
    prints that block's path back; the stem, pool-free head and SE names are timm's."""
    dialect = naming.LEGACY_SENET
    keys = list(MODELS[name]["state_dict"])
    for key in keys:
        found = BLOCK_KEY.match(key)
        if found is None:
            assert key.startswith(("layer0.", "last_linear.")), key
            continue
        stage, index = int(found[1]), int(found[2])
        assert dialect.block_place(key) == (stage, index)
        assert key.startswith(dialect.block_names(stage, index).torch + ".")
    assert "layer1.0.se_module.fc1.bias" in keys
    assert dialect.block_names(1, 0).attention[0] == "layer1.0.se_module"
    assert f"{dialect.classifier}.weight" == keys[-2]
    stem = "deep" if name == "legacy_senet154" else "imagenet"
    names = dialect.stem_names(stem_family.kind(stem).convs)
    expected = [f"{torch}.weight" for torch, _, _, _ in names]
    assert [key for key in keys if re.match(r"layer0\.conv\d\.weight$", key)] == expected


@pytest.mark.parametrize(
    ("dialect", "model"),
    [
        (Dialect("regnet_like", "", stage="s{s}", block="{stage}.b{b}"), "regnetx_002"),
        (
            Dialect("resnetv2_like", "", stage="stages.{s0}", block="{stage}.blocks.{b0}"),
            "resnetv2_50",
        ),
    ],
)
def test_stage_and_block_formats_express_the_next_families_paths(
    dialect: Dialect, model: str
) -> None:
    """The formats count from 1 or 0 as timm's regnet.py (``s1.b1``) and resnetv2.py
    (``stages.0.blocks.0``) do: every block key of theirs parses and prints back."""
    blocks = 0
    for key in MODELS[model]["state_dict"]:
        place = dialect.block_place(key)
        if place is None:
            assert not key.startswith(("s1.", "s2.", "stages.")), key
            continue
        blocks += 1
        assert key.startswith(dialect.block_names(*place).torch + ".")
    assert blocks > 0
    assert dialect.block_place("s01.b1.conv") is None
    assert dialect.block_place("stages.01.blocks.0.conv1") is None


def test_block_attributes_take_formats() -> None:
    """A dialect's convs and norms may be nested (regnet's ``conv1.conv``, ``conv1.bn``)."""
    attributes = TorchBlockAttributes(conv_name="conv{k}.conv", norm_name="conv{k}.bn")
    names = Dialect("nested", "", block_attributes=attributes).block_names(2, 1)
    assert names.conv(3) == ("layer2.1.conv3.conv", "conv3_block2_3_conv")
    assert names.norm(1) == ("layer2.1.conv1.bn", "conv3_block2_1_bn")


def test_the_default_dialect_is_timms_resnet() -> None:
    assert naming.dialect(Spec.model_fields["naming"].default) is naming.TIMM
    assert naming.TIMM.block_names(3, 4) == naming.block_names(3, 4)
    assert naming.TIMM.stem_names(3) == naming.stem_conv_names(3)


def ceil_pool(size: int) -> int:
    """PyTorch's MaxPool2d(3, 2, padding=0, ceil_mode=True) output (its documented formula;
    a last window starting past the input would be dropped, which k=3, s=2 never does)."""
    return math.floor((size - 3 + (2 - 1)) / 2) + 1


@pytest.mark.parametrize("size", [32, 34, 62, 64, 66, 224, 225, 227])
def test_the_ceil_pool_rounds_the_map_as_pytorch_does(size: int) -> None:
    plan = build_plan(legacy(input={"size": size}))
    conv = math.floor((size + 2 * 3 - 7) / 2) + 1
    assert plan.stem.conv_out_size == conv
    assert plan.stem.out_size == ceil_pool(conv)
    assert plan.stem.pool is not None and plan.stem.pool.ceil


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"activation": "silu"}, ("stem", "pool_padding"), "ReLU-like"),
        (
            {"block": {"type": "basic", "preact": True}, "stem": {"pool_padding": "ceil"}},
            ("stem", "pool_padding"),
            "pre-activation",
        ),
        (
            {"block": {"type": "basic", "preact": True, "last_act": True}},
            ("block", "last_act"),
            "bare conv",
        ),
    ],
)
def test_refused_where_the_twin_could_not_follow(
    change: dict[str, Any], path: tuple[str, ...], words: str
) -> None:
    spec = legacy(**change)
    found = [message for where, message in rules.check(spec) if where == path]
    assert found and words in found[0], rules.check(spec)


TWINS = {
    # The deep layer0 (three convs, the last one's norm conv1_3_bn), SENet-154's block: the
    # first 1x1 half as wide, grouped 3x3, strided 3x3 projections.
    "small_legacy_senet154": {
        "stem": {"type": "deep", "channels": 32, "pool_padding": "ceil"},
        "block": {
            "type": "bottleneck",
            "groups": 4,
            "width_per_group": 16,
            "reduce_first": 2,
            "attention": {"type": "se", "divisor": 1},
        },
        "projection_kernel": 3,
    },
    # SEResNetBlock: the activation after the second norm too.
    "small_legacy_seresnet": {
        "block": {"type": "basic", "last_act": True, "attention": {"type": "se", "divisor": 1}},
        "stages": [{"blocks": 2, "channels": 16}, {"blocks": 1, "channels": 32, "stride": 2}],
    },
}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_small_legacy_twins_equal_at_even_and_odd_maps(name: str, tmp_path: Path) -> None:
    """Weights moved by resgen.weights.transfer give the PyTorch outputs in Keras (1e-4), maps even
    (32 px: a 16 x 16 map before the pool) and odd (34 px: 17 x 17, the window overhangs)."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = legacy(name=name, **TWINS[name])
    render_generated(spec, tmp_path)
    torch_factory = generated_factory("torch", name, tmp_path)
    keras_factory = generated_factory("keras", name, tmp_path)
    for size in (32, 34):
        assert check_round_trip(torch_factory, keras_factory, spec, size) < 1e-4


def test_last_act_runs_the_activation_before_se_and_the_sum(tmp_path: Path) -> None:
    """timm's SEResNetBlock: relu(bn2(conv2(.))) feeds the SE module; without last_act the
    block's output differs (the knob changes the computation)."""
    torch = pytest.importorskip("torch")
    outputs = []
    for last_act in (True, False):
        name = f"last_act_{str(last_act).lower()}"
        block = {"type": "basic", "last_act": last_act, "attention": {"type": "se", "divisor": 1}}
        spec = legacy(name=name, block=block)
        render_generated(spec, tmp_path, backends=("torch",))
        torch.manual_seed(0)
        model = generated_factory("torch", name, tmp_path)().eval()
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.bias.uniform_(-1, 1)
            outputs.append(model.layer1[0](torch.randn(1, 16, 8, 8)))
    assert not torch.allclose(outputs[0], outputs[1])
