"""The Res2Net block (Gao et al. 2019, "Res2Net: A New Multi-scale Backbone Architecture"):
timm's ``Bottle2neck``, a bottleneck whose 3x3 works on ``scale`` groups of channels.

A 1x1 conv outputs ``scale`` groups of ``width`` channels; each group but the last goes through
its own 3x3 conv, norm and activation, after adding the previous group's output, so later groups
see ever larger receptive fields; the last group passes unchanged; the groups are concatenated
and a 1x1 conv expands them (x4). In a block that changes shape (timm's ``is_first``: it strides,
or its shortcut projects) the groups run side by side, each 3x3 with the block's stride, and the
last group is average-pooled 3x3 with that stride (zero padding counted, as timm's
``nn.AvgPool2d(3, stride, padding=1)``). ``width = floor(planes * base_width / 64) *
cardinality``, timm's rule, each 3x3 in ``cardinality`` groups (Res2NeXt).

timm's module names: ``conv1``/``bn1``, the 3x3s in ``convs.<i>`` and their norms in
``bns.<i>`` (two ``nn.ModuleList``: every conv, then every norm, in the state_dict), ``pool``,
``conv3``/``bn3``. Keras: ``<block>_1_conv``, the i-th group (1-based) ``<block>_2_s<i>_conv``,
``_bn``, ``_relu`` and the sum before it ``_2_s<i>_add``, ``<block>_2_split``, ``_2_pool``
(after ``_2_pool_pad``), ``_2_cat``, then ``<block>_3_conv``.
"""

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
    preact_field,
    reduce_first_field,
    stride_at_field,
)
from resgen.components.layers import Conv

ORDER = 30

MAX_SCALE = 32  # transfer pairs names from a list: every group a block may have is on it
EXPANSION = 4  # Bottle2neck.expansion


class Res2NetBlockSpec(SpecModel):
    """Res2Net's bottleneck: hierarchical 3x3s on `scale` groups of channels (Gao et al. 2019,
    timm's Bottle2neck)."""

    type: Literal["res2net"]
    preact: bool = preact_field()
    stride_at: Literal["first", "last"] = stride_at_field()
    scale: int = Field(
        4,
        ge=2,
        le=MAX_SCALE,
        description="Groups of channels the first 1x1 outputs (the paper's s): a 3x3 conv on "
        "each but the last, each adding the previous group's output (timm: "
        "`block_args=dict(scale=...)`; scale 1 is a plain bottleneck).",
    )
    base_width: int = Field(
        26,
        ge=1,
        le=4096,
        description="Each group's width is floor(channels * base_width / 64) * cardinality "
        "(the paper's w at 64 channels; timm: `base_width`).",
    )
    cardinality: int = Field(
        1,
        ge=1,
        le=1024,
        description="Groups of each 3x3 conv, Res2NeXt (timm: `cardinality`).",
    )
    attention: AttentionSpec | None = attention_field()
    reduce_first: int = reduce_first_field()


Spec = Res2NetBlockSpec

KIND = BlockKind(
    type="res2net",
    class_name="Bottle2neck",
    template="res2net",
    convs=3,  # conv1, the 3x3s (one bias flag for all), conv3
    takes_width=True,
    defines=("SplitChannels",),
    keras_ops=True,
    keras_layers=True,
)


@dataclass(frozen=True)
class Res2NetNames:
    """timm's attributes inside ``Bottle2neck`` and the Keras suffixes paired with them."""

    convs: str = "convs"  # nn.ModuleList of the 3x3s
    norms: str = "bns"
    pool: str = "pool"
    group: str = f"{naming.KERAS.branch(2)}_s"  # + the 1-based group: ``_2_s1``
    split: str = f"{naming.KERAS.branch(2)}_split"
    keras_pool: str = f"{naming.KERAS.branch(2)}{naming.POOL}"
    keras_pool_pad: str = f"{naming.KERAS.branch(2)}{naming.POOL}{naming.PAD}"
    concat: str = f"{naming.KERAS.branch(2)}_cat"

    def conv(self, names: naming.BlockNames, i: int) -> tuple[str, str]:
        """The i-th 3x3 (0-based): ``layer1.0.convs.0`` and ``conv2_block1_2_s1_conv``."""
        return names.branch_layer(f"{self.convs}.{i}", f"{self.group}{i + 1}{naming.CONV}")

    def norm(self, names: naming.BlockNames, i: int) -> tuple[str, str]:
        return names.branch_layer(f"{self.norms}.{i}", f"{self.group}{i + 1}{naming.NORM}")


NAMES = Res2NetNames()


@dataclass(frozen=True)
class Res2NetKnobs(Knobs):
    scale: int = 4
    base_width: int = 26
    names: Res2NetNames = NAMES

    def phrase(self, narrower: str) -> str:
        grouped = f", each in {self.groups} groups" if self.groups > 1 else ""
        return (
            f"a 1x1 conv, then {self.scale} groups of its channels: a 3x3 conv on each but the "
            f"last{grouped}, each after the first adding the previous group's output (where "
            "the block changes shape they run side by side, each with its stride, and the last "
            f"is average-pooled 3x3), concatenated into a 1x1 conv (Res2Net){narrower}"
        )


def knobs(spec: Res2NetBlockSpec) -> Res2NetKnobs:
    return Res2NetKnobs(groups=spec.cardinality, scale=spec.scale, base_width=spec.base_width)


def widths(knobs: Any, channels: int, reduce_first: int) -> tuple[int, int, int]:
    """timm's ``floor(planes * base_width / 64) * cardinality`` for each group; the first 1x1
    outputs ``scale`` groups of it, the last 1x1 ``channels * 4``."""
    width = channels * knobs.base_width // 64 * knobs.groups
    return width * knobs.scale, width, channels * EXPANSION


@dataclass(frozen=True)
class Res2NetBranch(Branch):
    @property
    def depth(self) -> int:
        """The paper counts a 1x1, a 3x3 and a 1x1 (Res2Net-50 has 50 layers)."""
        return KIND.convs


def plan(context: BranchContext, knobs: Knobs) -> Branch:
    """conv1/bn1, the ``scale - 1`` 3x3s (each with the block's stride), their norms, then
    conv3/bn3, in the order Bottle2neck registers them."""
    assert isinstance(knobs, Res2NetKnobs)
    names = context.names
    first_width, width, out_channels = context.widths
    size = context.size
    conv1 = Conv(
        *names.conv(1),
        in_channels=context.in_channels,
        out_channels=first_width,
        kernel=1,
        stride=1,
        groups=1,
        bias=context.bias(True),
        in_size=size,
    )
    groups = [
        Conv(
            *knobs.names.conv(names, i),
            in_channels=width,
            out_channels=width,
            kernel=3,
            stride=context.stride,
            groups=knobs.groups,
            bias=context.bias(True),
            in_size=size,
        )
        for i in range(knobs.scale - 1)
    ]
    norms = [context.norm(*knobs.names.norm(names, i), width) for i in range(knobs.scale - 1)]
    out_size = groups[0].out_size
    conv3 = Conv(
        *names.conv(3),
        in_channels=first_width,
        out_channels=out_channels,
        kernel=1,
        stride=1,
        groups=1,
        bias=context.bias(True),
        in_size=out_size,
    )
    layers = (
        conv1,
        context.norm(*names.norm(1), first_width),
        *groups,
        *norms,
        conv3,
        context.norm(*names.norm(3), out_channels),
    )
    return Res2NetBranch(layers, out_size)


def check(spec: Any) -> list[Finding]:
    """What timm's Bottle2neck does not take (it swallows these arguments unused)."""
    found: list[Finding] = []
    if spec.anti_alias != "none":
        found.append(
            (
                ("anti_alias",),
                "res2net blocks have no anti-aliased downsampling (timm's Bottle2neck takes "
                "none); set it to none",
            )
        )
    if spec.block.reduce_first != 1:
        found.append(
            (
                ("block", "reduce_first"),
                "res2net blocks take their first conv's width from scale and base_width; use "
                "reduce_first 1",
            )
        )
    return found


def check_stage(spec: Any, knobs: Any, stage: Any) -> list[Finding]:
    """Each group keeps at least one channel per 3x3 group."""
    per_group = stage.channels * knobs.base_width // 64
    if per_group >= 1:
        return []
    return [
        (
            ("channels",),
            f"each group's width floor({stage.channels} * {knobs.base_width} / 64) is 0; "
            "raise channels or block.base_width",
        )
    ]


def weights(names: naming.BlockNames) -> list[tuple[str, str, str]]:
    """conv1/bn1, every 3x3 and norm a block of up to MAX_SCALE groups has, conv3/bn3."""
    out = [("conv", *names.conv(1)), ("norm", *names.norm(1))]
    for i in range(MAX_SCALE - 1):
        out += [("conv", *NAMES.conv(names, i)), ("norm", *NAMES.norm(names, i))]
    return [*out, ("conv", *names.conv(3)), ("norm", *names.norm(3))]
