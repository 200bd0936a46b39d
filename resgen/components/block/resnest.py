"""The split-attention bottleneck of ResNeSt (Zhang et al. 2020, "ResNeSt: Split-Attention
Networks"), as timm's ``ResNestBottleneck`` builds it on timm's ``ResNet`` class: a 1x1 conv, the
split-attention 3x3 (timm's ``SplitAttn``: PyTorch keys ``conv2.conv``, ``conv2.bn0``,
``conv2.fc1``, ``conv2.bn1``, ``conv2.fc2``), a 1x1 conv to four times the stage's channels;
in a strided block a 3x3 average pool (``avd``) takes the stride, before or after the 3x3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention import AttentionSpec
from resgen.components.base import SpecModel
from resgen.components.block.base import (
    BlockKind,
    Branch,
    BranchContext,
    Finding,
    Knobs,
    attention_field,
    check_per_group_width,
    preact_field,
    reduce_first_field,
    stride_at_field,
)
from resgen.components.layers import Conv, Norm, conv_out

ORDER = 40

EXPANSION = 4  # timm's ResNestBottleneck.expansion
AVD_KERNEL = 3  # timm's avd pool: nn.AvgPool2d(3, stride, padding=1)
# The attention's hidden width, timm's SplitAttn defaults (ResNestBottleneck passes none):
# make_divisible(channels * radix * RD_RATIO, RD_DIVISOR, min_value=RD_MIN), round_limit 0.9.
RD_RATIO = 0.25
RD_DIVISOR = 8
RD_MIN = 32


class ResNestBlockSpec(SpecModel):
    """ResNeSt's split-attention bottleneck (Zhang et al. 2020; timm's ResNestBottleneck): 1x1,
    split-attention 3x3, 1x1 to 4 x channels; a 3x3 average pool takes a strided block's
    stride (avd)."""

    type: Literal["resnest"]
    preact: bool = preact_field()
    stride_at: Literal["first", "last"] = stride_at_field()
    radix: int = Field(
        2,
        ge=1,
        le=64,
        description="Splits of each group of the 3x3 conv that the attention weighs: a "
        "softmax over the splits; 1 gates the one split with a sigmoid (timm: `radix`).",
    )
    groups: int = Field(
        1,
        ge=1,
        le=1024,
        description="Cardinality: groups of the split-attention 3x3 per split (the conv has "
        "groups x radix groups) and of its attention's 1x1 convs (timm: `cardinality`).",
    )
    width_per_group: int = Field(
        64,
        ge=1,
        le=4096,
        description="Inner width = int(channels * width_per_group / 64) * groups, as the "
        "bottleneck's (timm: `base_width`).",
    )
    avd: bool = Field(
        True,
        description="A strided block's stride is taken by a 3x3 average pool (padding 1, "
        "padded zeros counted) instead of its 3x3 conv (timm: `avd`).",
    )
    avd_first: bool = Field(
        False,
        description="That pool runs before the split-attention 3x3, not after it (timm: "
        "`avd_first`).",
    )
    attention: AttentionSpec | None = attention_field()
    reduce_first: int = reduce_first_field()


Spec = ResNestBlockSpec

KIND = BlockKind(
    type="resnest",
    class_name="ResNestBottleneck",
    template="resnest",
    convs=3,
    takes_width=True,
    defines=("split_attention_width", "SplitAttn", "RadixSum", "RadixSoftmax", "split_attention"),
    keras_ops=True,
    keras_layers=True,
)


@dataclass(frozen=True)
class ResNestKnobs(Knobs):
    """``groups`` (the base's, the ``GROUPS`` constant) is the 3x3's: cardinality x radix."""

    cardinality: int = 1
    radix: int = 2
    width_per_group: int = 64
    avd: bool = True
    avd_first: bool = False

    @property
    def softmax(self) -> bool:
        """The splits are weighed by a softmax over them (radix above 1), not a sigmoid."""
        return self.radix > 1

    def phrase(self, narrower: str) -> str:
        groups = f" in {self.cardinality} groups" if self.cardinality > 1 else ""
        if self.softmax:
            attention = f"{self.radix} splits{groups} weighed by a softmax over the splits"
        else:
            attention = f"one split{groups} gated by a sigmoid"
        if self.avd:
            where = "before" if self.avd_first else "after"
            stride = f"a 3x3 average pool takes the stride {where} it"
        else:
            stride = "stride on the 3x3"
        return f"1x1, split-attention 3x3 ({attention}; {stride}) and 1x1 convs{narrower}"


def knobs(spec: ResNestBlockSpec) -> ResNestKnobs:
    return ResNestKnobs(
        groups=spec.groups * spec.radix,
        cardinality=spec.groups,
        radix=spec.radix,
        width_per_group=spec.width_per_group,
        avd=spec.avd,
        avd_first=spec.avd_first,
    )


def widths(knobs: Any, channels: int, reduce_first: int) -> tuple[int, int, int]:
    """timm's ``group_width = int(planes * (base_width / 64.)) * cardinality``; the last 1x1
    outputs ``planes * 4``."""
    width = int(channels * (knobs.width_per_group / 64.0)) * knobs.cardinality
    return width, width, channels * EXPANSION


def attention_width(channels: int) -> int:
    """timm's ``make_divisible(channels * RD_RATIO, RD_DIVISOR, min_value=RD_MIN)`` for the
    3x3's ``channels`` (radix x the width): the nearest multiple of the divisor (halves up), at
    least RD_MIN, raised by one divisor where rounding lost more than 10%."""
    value = channels * RD_RATIO
    width = max(RD_MIN, int(value + RD_DIVISOR / 2) // RD_DIVISOR * RD_DIVISOR)
    return width + RD_DIVISOR if width < 0.9 * value else width


# Inside the PyTorch block (timm's attributes) and the Keras suffixes of the same layers: one
# PyTorch path names one Keras layer across kinds, so the split conv (``conv2.conv``) is named
# as the RegNet and selective-kernel kinds name timm's ConvNormAct ``conv2.conv`` (lettered:
# ``_b_conv``), and its norm (``conv2.bn0``) is the split's own (``_2_split_bn``).
SPLIT_CONV = ("conv2.conv", naming.KERAS.lettered(2) + naming.CONV)
SPLIT_NORM = ("conv2.bn0", "_2_split_bn")
FC1 = ("conv2.fc1", "_2_fc1_conv")
FC1_NORM = ("conv2.bn1", "_2_fc1_bn")
FC2 = ("conv2.fc2", "_2_fc2_conv")


@dataclass(frozen=True)
class ResNestBranch(Branch):
    """Its depth counts the three convs on the main path, not the attention's 1x1s."""

    @property
    def depth(self) -> int:
        return KIND.convs


def plan(context: BranchContext, knobs: Any) -> Branch:
    """conv1, bn1, the split attention (conv, bn0, fc1, bn1, fc2), conv3, bn3: timm's
    state_dict order. The avd pool (no weights, no MACs) takes the stride where the block
    strides; otherwise the split conv does."""
    names = context.names
    _, width, out_channels = context.widths
    radix, groups = knobs.radix, knobs.cardinality
    size = context.size
    pooled = knobs.avd and context.stride != 1
    conv1 = Conv(*names.conv(1), context.in_channels, width, 1, 1, 1, False, size)
    if pooled and knobs.avd_first:
        size = conv_out(size, AVD_KERNEL, context.stride, 1)
    split_stride = 1 if pooled else context.stride
    split = Conv(
        *names.branch_layer(*SPLIT_CONV), width, width * radix, 3, split_stride,
        groups * radix, False, size,
    )  # fmt: skip
    size = split.out_size
    if pooled and not knobs.avd_first:
        size = conv_out(size, AVD_KERNEL, context.stride, 1)
    hidden = attention_width(width * radix)
    layers: tuple[Conv | Norm, ...] = (
        conv1,
        context.norm(*names.norm(1), width),
        split,
        context.norm(*names.branch_layer(*SPLIT_NORM), width * radix),
        Conv(*names.branch_layer(*FC1), width, hidden, 1, 1, groups, True, 1),
        context.norm(*names.branch_layer(*FC1_NORM), hidden),
        Conv(*names.branch_layer(*FC2), hidden, width * radix, 1, 1, groups, True, 1),
        Conv(*names.conv(3), width, out_channels, 1, 1, 1, False, size),
        context.norm(*names.norm(3), out_channels),
    )
    return ResNestBranch(layers, size)


def check(spec: Any) -> list[Finding]:
    """What timm's ResNestBottleneck asserts or does not take."""
    found: list[Finding] = []
    block = spec.block
    refused = "timm's ResNestBottleneck"
    if block.attention is not None:
        found.append((("block", "attention"), f"{refused} takes no attention layer; remove it"))
    if block.reduce_first != 1:
        found.append((("block", "reduce_first"), f"{refused} supports only 1"))
    if block.stride_at != "first":
        found.append((("block", "stride_at"), f"{refused} strides in the first block; use first"))
    if spec.anti_alias != "none":
        found.append((("anti_alias",), f"{refused} takes no anti-aliasing; use avd"))
    if spec.conv_bias != "none":
        found.append((("conv_bias",), f"{refused}'s convs have no bias; use none"))
    if spec.norm.type != "batch":
        found.append((("norm", "type"), "resnest blocks are built with batch norm only"))
    if spec.drop_path_rate > 0:
        message = (
            f"resnest blocks take no stochastic depth ({refused} applies it to the shortcut's "
            "input, not the branch); use 0"
        )
        found.append((("drop_path_rate",), message))
    return found


def check_stage(spec: Any, knobs: Any, stage: Any) -> list[Finding]:
    """The inner width keeps at least one channel per group, and splits into the split conv's
    groups x radix groups (PyTorch's and Keras' grouped convs need that)."""
    too_narrow = check_per_group_width(stage.channels, knobs.width_per_group)
    if too_narrow:
        return too_narrow
    width = int(stage.channels * (knobs.width_per_group / 64.0)) * knobs.cardinality
    if width % knobs.groups:
        return [
            (
                ("channels",),
                f"inner width {width} does not split into the split conv's {knobs.groups} "
                f"groups (block.groups x block.radix); change channels or "
                f"block.width_per_group",
            )
        ]
    return []


def weights(names: naming.BlockNames) -> list[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    return [
        ("conv", *names.conv(1)),
        ("norm", *names.norm(1)),
        ("conv", *names.branch_layer(*SPLIT_CONV)),
        ("norm", *names.branch_layer(*SPLIT_NORM)),
        ("conv", *names.branch_layer(*FC1)),
        ("norm", *names.branch_layer(*FC1_NORM)),
        ("conv", *names.branch_layer(*FC2)),
        ("conv", *names.conv(3)),
        ("norm", *names.norm(3)),
    ]
