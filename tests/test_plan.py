"""resgen.plan.network for the modern knobs, against rules worked by hand and timm's listing.

Nothing here imports torch or timm: widths, kernels, rates, sizes and names are derived from the
spec alone, then compared with the papers' rules computed by hand or with
tests/data/timm_resnet_zoo.json (written from timm 1.0.31). The state_dict a plan names (keys and
shapes, in module order) must equal timm's for every timm-zoo architecture, so weights load
strictly before a template has printed a line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, listing_macs, plan_state_dict

from resgen.check.validate import load_spec
from resgen.components.attention.eca import EfficientChannelAttention
from resgen.components.attention.se import SqueezeExcitation
from resgen.plan.network import NetworkPlan, Stage, smallest_input
from resgen.plan.planner import build_plan

LISTING = json.loads((REPO / "tests" / "data" / "timm_resnet_zoo.json").read_text("utf-8"))
ZOO: dict[str, dict[str, Any]] = LISTING["models"]
RESNET50_STAGES = """stages:
  - {blocks: 3, channels: 64}
  - {blocks: 4, channels: 128, stride: 2}
  - {blocks: 6, channels: 256, stride: 2}
  - {blocks: 3, channels: 512, stride: 2}
"""


def plan_of(tmp_path: Path, text: str, name: str = "net") -> NetworkPlan:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\n{text}", encoding="utf-8")
    return build_plan(load_spec(path))


def resnet50(
    tmp_path: Path, extra: str, name: str = "net", block: str = "{type: bottleneck}"
) -> NetworkPlan:
    """timm's ResNet-50 layout with ``extra`` fields."""
    return plan_of(tmp_path, f"block: {block}\n{RESNET50_STAGES}{extra}", name)


# --- squeeze-and-excitation and ECA ------------------------------------------------------------


def test_se_hidden_width_rounds_half_up_to_the_divisor(tmp_path: Path) -> None:
    """timm's make_divisible(C * ratio, 8, round_limit=0): the nearest multiple of 8, halves up,
    never below 8. By hand: 64/16 = 4 -> 8; 96/16 = 6 -> 8; 200/16 = 12.5 -> 16;
    136/16 = 8.5 -> 8 (12.5 // 8); 256/16 = 16; 2048/16 = 128."""
    stages = "".join(f"  - {{blocks: 1, channels: {c}}}\n" for c in (64, 96, 200, 136, 256, 2048))
    plan = plan_of(tmp_path, f"block: {{type: basic, attention: {{type: se}}}}\nstages:\n{stages}")
    hidden = [block.attention.hidden for block in plan.blocks]  # type: ignore[union-attr]
    assert hidden == [8, 8, 16, 8, 16, 128]


def argument(stage: Stage, name: str) -> int:
    """The value a stage passes its blocks' attention as ``name``."""
    return dict(stage.attention_arguments)[name]


def test_se_ratio_divisor_and_fixed_width(tmp_path: Path) -> None:
    plain = resnet50(tmp_path, "", "plain")
    assert plain.blocks[0].attention is None and not plain.attention_kinds
    plan = plan_of(
        tmp_path,
        "block: {type: bottleneck, attention: {type: se, ratio: 0.25}}\n" + RESNET50_STAGES,
    )
    assert [argument(s, "se_channels") for s in plan.stages] == [
        64,
        128,
        256,
        512,
    ]  # 256/4 ... 2048/4
    plan = plan_of(
        tmp_path,
        "block: {type: bottleneck, attention: {type: se, hidden_channels: 24}}\n" + RESNET50_STAGES,
    )
    assert {argument(s, "se_channels") for s in plan.stages} == {24}
    plan = plan_of(
        tmp_path,
        "block: {type: bottleneck, attention: {type: se, divisor: 1}}\n" + RESNET50_STAGES,
    )
    assert [argument(s, "se_channels") for s in plan.stages] == [16, 32, 64, 128]


def test_se_counts_two_biased_1x1_convs(tmp_path: Path) -> None:
    """SE-ResNet-50 adds 2 * C * hidden + hidden + C per block: 2,530,992 by hand (and Hu et
    al.'s 28.1 M in all); MACs add C * hidden twice per block (the map is 1 x 1)."""
    base = resnet50(tmp_path, "", "base")
    se = plan_of(
        tmp_path, "block: {type: bottleneck, attention: {type: se}}\n" + RESNET50_STAGES, "se"
    )
    extra = sum(
        n * (2 * c * (c // 16) + c // 16 + c) for n, c in ((3, 256), (4, 512), (6, 1024), (3, 2048))
    )
    assert extra == 2_530_992
    assert se.params - base.params == extra
    macs = sum(n * 2 * c * (c // 16) for n, c in ((3, 256), (4, 512), (6, 1024), (3, 2048)))
    assert se.macs - base.macs == macs
    block = se.blocks[0]
    assert isinstance(block.attention, SqueezeExcitation)
    assert (block.attention.reduce.torch_name, block.attention.expand.torch_name) == (
        "layer1.0.se.fc1",
        "layer1.0.se.fc2",
    )
    assert block.attention.reduce.keras_name == "conv2_block1_se_reduce"


def test_eca_kernel_follows_the_papers_rule(tmp_path: Path) -> None:
    """ECA-Net: t = int((log2 C + 1) / 2), made odd, at least 3. By hand: 64 -> 3.5 -> 3;
    96 -> 3.79 -> 3; 128 -> 4 -> 5; 256 -> 4.5 -> 5; 512 -> 5; 1024 -> 5.5 -> 5; 2048 -> 6 -> 7;
    8 -> 2 -> 3 (the floor of 3)."""
    widths = (64, 96, 128, 256, 512, 1024, 2048, 8)
    stages = "".join(f"  - {{blocks: 1, channels: {c}}}\n" for c in widths)
    plan = plan_of(tmp_path, f"block: {{type: basic, attention: {{type: eca}}}}\nstages:\n{stages}")
    assert [argument(s, "eca_kernel") for s in plan.stages] == [3, 3, 5, 5, 5, 5, 7, 3]
    given = plan_of(
        tmp_path,
        f"block: {{type: basic, attention: {{type: eca, kernel_size: 9}}}}\nstages:\n{stages}",
        "given",
    )
    assert {argument(s, "eca_kernel") for s in given.stages} == {9}
    # gamma 1, beta 0 at 64 channels: t = 6 -> 7.
    other = plan_of(
        tmp_path,
        "block: {type: basic, attention: {type: eca, gamma: 1, beta: 0}}\n"
        "stages: [{blocks: 1, channels: 64}]\n",
        "other",
    )
    assert argument(other.stages[0], "eca_kernel") == 7
    attention = plan.blocks[0].attention
    assert isinstance(attention, EfficientChannelAttention)
    assert (attention.conv_torch_name, attention.conv_keras_name) == (
        "layer1.0.se.conv",
        "conv2_block1_eca_conv",
    )


def test_eca_macs_equal_timms_conv1d_count(tmp_path: Path) -> None:
    """FlopCounterMode's Conv1d figure for ecaresnet50d, against the plan of the same net."""
    plan = resnet50(
        tmp_path,
        "stem: {type: deep, channels: 64}\nshortcut: avg_projection\n",
        block="{type: bottleneck, attention: {type: eca}}",
    )
    eca = sum(block.attention.macs for block in plan.blocks)  # type: ignore[union-attr]
    assert 2 * eca == ZOO["ecaresnet50d"]["flops_by_module"]["Conv1d"]


# --- anti-aliasing ------------------------------------------------------------------------------


def test_avg_anti_aliasing_moves_the_stride_from_the_3x3_to_a_pool(tmp_path: Path) -> None:
    """The plan's part: the 3x3 runs at stride 1 and full size, a pool halves the map. That the
    pool comes after the 3x3's activation (timm's order) is the generated code's part:
    test_torch_knobs.py::test_anti_aliasing_takes_the_stride_after_the_activation and
    test_keras_knobs.py::test_anti_aliasing_pools_after_the_activation_of_the_strided_conv."""
    plan = resnet50(tmp_path, "anti_alias: avg\n")
    block = plan.stages[1].blocks[0]  # layer2.0 at 224: 56 -> 28
    conv2 = block.convs[1]
    assert (conv2.stride, conv2.in_size, conv2.out_size) == (1, 56, 56)
    assert block.anti_alias is not None
    assert (block.anti_alias.torch_name, block.anti_alias.keras_name) == (
        "layer2.0.aa",
        "conv3_block1_aa",
    )
    assert (block.anti_alias.in_size, block.anti_alias.out_size, block.out_size) == (56, 28, 28)
    assert block.shortcut_convs[0].stride == 2  # the shortcut is untouched
    assert plan.stages[1].blocks[1].anti_alias is None  # only strided blocks
    stem = plan.stem  # the max pool becomes a 2x2/2 average pool, keyless, named maxpool
    assert stem.pool is not None and stem.pool.kind.type == "avg"
    assert stem.pool.anti_alias is not None
    assert (stem.pool.anti_alias.torch_name, stem.out_size) == ("maxpool", 56)
    assert plan.params == ZOO["resnetaa50"]["params"]
    # The 3x3 convs of strided blocks now run at full resolution: timm's count.
    assert plan.macs == listing_macs(ZOO["resnetaa50"])


def test_blur_pool_macs_are_the_depthwise_filter(tmp_path: Path) -> None:
    """9 multiply-adds per output value and channel; timm's BlurPool2d count for resnetblur50."""
    plan = resnet50(tmp_path, "anti_alias: blur\n")
    aa = [block.anti_alias for block in plan.blocks if block.anti_alias]
    assert [(a.channels, a.in_size, a.out_size) for a in aa] == [
        (128, 56, 28),
        (256, 28, 14),
        (512, 14, 7),
    ]
    assert plan.stem.pool is not None
    stem = plan.stem.pool.anti_alias
    assert stem is not None and (stem.torch_name, stem.channels, stem.in_size) == (
        "maxpool.1",
        64,
        112,
    )
    blur = sum(a.macs for a in aa) + stem.macs
    assert blur == 9 * (128 * 28 * 28 + 256 * 14 * 14 + 512 * 7 * 7 + 64 * 56 * 56)
    assert 2 * blur == ZOO["resnetblur50"]["flops_by_module"]["BlurPool2d"]


def test_rounding_of_each_halving(tmp_path: Path) -> None:
    """An average pool rounds down, so an odd size needs one more pixel to stay at 2 x 2."""
    assert smallest_input(("up", "up")) == 3  # 3 -> 2 -> 1
    assert smallest_input(("up", "down")) == 3  # 3 -> 2 -> 1
    assert smallest_input(("down", "up")) == 4  # 4 -> 2 -> 1, where 3 -> 1 first
    assert smallest_input(("down", "down")) == 4
    plan = resnet50(tmp_path, "anti_alias: avg\n")
    assert plan.halvings == ("up", "down", "down", "down", "down")


# --- stems, shortcuts, stochastic depth, mixed stages -----------------------------------------


def test_tiered_stem_and_resnet_rs_pool(tmp_path: Path) -> None:
    plan = resnet50(tmp_path, "stem: {type: deep, widths: [24, 32, 64], pool: conv}\n")
    stem = plan.stem
    assert [c.out_channels for c in stem.convs] == [24, 32, 64]
    assert stem.pool is not None and stem.pool.kind.type == "conv"
    (conv,), (norm,) = stem.pool.convs, stem.pool.norms
    assert (conv.torch_name, norm.torch_name) == ("maxpool.0", "maxpool.1")
    assert (conv.keras_name, norm.keras_name) == ("pool1_conv", "pool1_bn")
    assert (conv.stride, stem.out_size) == (2, 56)
    assert plan.depth == 3 + 1 + 16 * 3 + 1
    aa = resnet50(
        tmp_path, "stem: {type: deep, channels: 64, pool: conv}\nanti_alias: blur\n", "aa"
    )
    pool = aa.stem.pool  # timm's order with both: conv at stride 1, the pool, the norm, the act
    assert pool is not None and pool.anti_alias is not None
    (conv,), (norm,) = pool.convs, pool.norms
    assert conv.stride == 1
    assert [pool.anti_alias.torch_name, norm.torch_name] == ["maxpool.1", "maxpool.2"]


def test_senet_projection_kernel_only_where_strided(tmp_path: Path) -> None:
    plan = resnet50(tmp_path, "stem: {type: deep, channels: 128}\nprojection_kernel: 3\n")
    kernels = [(b.torch_name, b.shortcut_convs[0].kernel) for b in plan.blocks if b.shortcut_convs]
    assert kernels == [("layer1.0", 1), ("layer2.0", 3), ("layer3.0", 3), ("layer4.0", 3)]
    assert plan.blocks[3].shortcut_convs[0].padding == 1


def test_reduce_first_narrows_the_first_conv(tmp_path: Path) -> None:
    plan = resnet50(
        tmp_path, "", block="{type: bottleneck, groups: 64, width_per_group: 4, reduce_first: 2}"
    )
    block = plan.stages[1].blocks[0]  # width 512: conv1 256 outputs, conv2 256 -> 512 in 64 groups
    assert (block.first_width, block.width) == (256, 512)
    assert [(c.in_channels, c.out_channels, c.groups) for c in block.convs] == [
        (256, 256, 1),
        (256, 512, 64),
        (512, 512, 1),
    ]
    assert plan.block_class.takes_first_width


def test_drop_path_rates_follow_timms_linear_rule(tmp_path: Path) -> None:
    """Block i of N drops with rate * i / (N - 1): by hand for 4 blocks at 0.3."""
    plan = plan_of(
        tmp_path,
        "block: {type: basic}\nstages: [{blocks: 2, channels: 8}, {blocks: 2, channels: 16, "
        "stride: 2}]\ndrop_path_rate: 0.3\n",
    )
    rates = [block.drop_path for block in plan.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3], abs=1e-15)
    assert rates[0] == 0.0 and rates[-1] == 0.3
    assert [stage.first_block for stage in plan.stages] == [0, 2]


def test_mixed_stages_take_one_class_each(tmp_path: Path) -> None:
    """timm's test_resnet: basic, basic, bottleneck, basic at 32, 48, 48, 96."""
    plan = plan_of(
        tmp_path,
        "stem: {type: deep, channels: 32}\nblock: {type: basic}\nstages:\n"
        "  - {blocks: 1, channels: 32}\n  - {blocks: 1, channels: 48, stride: 2}\n"
        "  - {blocks: 1, channels: 48, stride: 2, block_type: bottleneck}\n"
        "  - {blocks: 1, channels: 96, stride: 2}\nshortcut: avg_projection\n",
    )
    assert [c.type for c in plan.block_classes] == ["basic", "bottleneck"]
    assert all(c.takes_width for c in plan.block_classes) and plan.mixed
    assert [s.out_channels for s in plan.stages] == [32, 48, 192, 96]
    assert plan.head.in_features == 96
    assert plan.params == ZOO["test_resnet"]["params"]


def test_group_norm_keeps_the_parameters(tmp_path: Path) -> None:
    plan = resnet50(tmp_path, "norm: {type: group}\n")
    assert plan.norm.kind.type == "group" and plan.params == ZOO["resnet50_gn"]["params"]
    assert plan.block_class.norm == "group"


def test_default_blocks_keep_todays_facts(tmp_path: Path) -> None:
    """Nothing new appears where no knob is set: the facts today's templates read."""
    block = resnet50(tmp_path, "").block_class
    assert (block.attention, block.anti_alias, block.drop_path, block.reduce_first) == (
        None,
        None,
        False,
        False,
    )
    assert block.torch.act == "relu" and block.keras.act == "_relu"
    assert not block.takes_first_width and not block.shortcut.wide_kernel
    silu = resnet50(tmp_path, "activation: silu\n", "silu")
    assert silu.block_class.torch.act == "act" and silu.stem.torch_act == "act"
    assert silu.stem.norms[0].keras_relu == "conv1_act"


# --- timm's state_dict, named by the plan ---------------------------------------------------------


def shipped_zoo_specs() -> dict[str, Path]:
    found = {path.stem: path for path in sorted((REPO / "specs").rglob("*.yaml"))}
    return {name: found[name] for name in ZOO if name in found}


@pytest.mark.parametrize("name", list(shipped_zoo_specs()))
def test_the_plan_names_timms_state_dict(name: str) -> None:
    plan = build_plan(load_spec(shipped_zoo_specs()[name]))
    assert plan_state_dict(plan) == [tuple(item) for item in ZOO[name]["state_dict"].items()]
