"""RegNet's bottleneck (Radosavovic et al. 2020; timm's ``regnet.Bottleneck``): a 1x1 conv to the
bottleneck width, a grouped 3x3 whose groups hold ``group_width`` channels each, optional
squeeze-and-excitation on the 3x3's output whose hidden width is a ratio of the *block's input*
width (RegNet-Y), and a 1x1 back to the block's width; every conv is followed by a norm, and
the activation follows all but the last (then the sum, unless ``linear_out``: RegNet-Z's
blocks end in the sum itself).

timm builds each conv with its norm as one ``ConvNormAct`` module (``conv1.conv``,
``conv1.bn``), and the squeeze-and-excitation as ``SEModule`` (``se.fc1``, ``se.fc2``, both with
a bias, the activation between them, a sigmoid gate); this kind names its layers so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from resgen.components import naming
from resgen.components import regnet_rule as regnet
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
from resgen.components.layers import Conv, Norm

ORDER = 70


class RegNetBlockSpec(SpecModel):
    """RegNet's bottleneck: 1x1, grouped 3x3 (fixed group width), optional SE, 1x1."""

    type: Literal["regnet"]
    preact: bool = preact_field()
    stride_at: Literal["first", "last"] = stride_at_field()
    group_width: int = Field(
        1,
        ge=1,
        le=8192,
        description="Channels in each group of the 3x3 conv, g: it has bottleneck width / g "
        "groups (one where the bottleneck is narrower than g); the bottleneck width must be a "
        "multiple of it (timm: `group_size`).",
    )
    bottle_ratio: float = Field(
        1.0,
        gt=0,
        le=64,
        description="Bottleneck width = round(channels * bottle_ratio), b (RegNet-X and -Y: 1; "
        "timm: `bottle_ratio`).",
    )
    se_ratio: float = Field(
        0.0,
        ge=0,
        lt=16,
        description="Squeeze-and-excitation after the 3x3 (RegNet-Y: 0.25), its hidden width "
        "round(block input width * se_ratio), at least 1; 0: none (timm: `se_ratio`).",
    )
    attention: AttentionSpec | None = attention_field()
    reduce_first: int = reduce_first_field()
    linear_out: bool = Field(
        False,
        description="No activation after the sum: the block's output is the sum itself "
        "(RegNet-Z; timm: `linear_out`).",
    )


Spec = RegNetBlockSpec

KIND = BlockKind(
    type="regnet",
    class_name="RegNetBottleneck",
    template="regnet",
    convs=3,
    takes_width=True,
    last_norm="conv3.bn",
    defines=("ConvNormAct", "SqueezeExcitation"),
    preact_class_name="RegNetPreBottleneck",
    preact_template="preact_regnet",
    preact_head="act",
    shortcut_pool_dilation="first_dilation",
)


@dataclass(frozen=True)
class RegNetKnobs(Knobs):
    group_width: int = 1
    bottle_ratio: float = 1.0
    se_ratio: float = 0.0
    varying_groups: ClassVar[bool] = True  # each stage's width sets its 3x3's groups

    @property
    def se(self) -> bool:
        """Squeeze-and-excitation after the 3x3."""
        return self.se_ratio > 0

    def phrase(self, narrower: str) -> str:
        se = (
            f"; squeeze-and-excitation after the 3x3, its hidden width {self.se_ratio:g} x "
            "the block's input width"
        )
        return (
            f"1x1, 3x3 and 1x1 convs (stride on the 3x3, in groups of {self.group_width} "
            f"channels{se if self.se else ''})"
        )


def knobs(spec: RegNetBlockSpec) -> RegNetKnobs:
    return RegNetKnobs(
        group_width=spec.group_width,
        bottle_ratio=spec.bottle_ratio,
        se_ratio=spec.se_ratio,
        linear_out=spec.linear_out,
    )


def widths(knobs: Any, channels: int, reduce_first: int) -> tuple[int, int, int]:
    """timm's ``int(round(out_chs * bottle_ratio))`` bottleneck; the output is ``channels``."""
    inner = regnet.inner_width(channels, knobs.bottle_ratio)
    return inner, inner, channels


def se_width(in_channels: int, se_ratio: float) -> int:
    """The squeeze-and-excitation's hidden width: timm's ``int(round(in_chs * se_ratio))``."""
    return round(in_channels * se_ratio)


def _names(names: naming.BlockNames, k: int) -> tuple[tuple[str, str], tuple[str, str]]:
    """``conv<k>.conv`` and ``conv<k>.bn`` (timm's ConvNormAct); Keras ``_a_conv``/``_a_bn``
    ... (pycls' ``f.a``, ``f.b``, ``f.c``)."""
    letter = naming.KERAS.lettered(k)
    conv = names.branch_layer(f"conv{k}.conv", letter + naming.CONV)
    norm = names.branch_layer(f"conv{k}.bn", letter + naming.NORM)
    return conv, norm


def se_names(names: naming.BlockNames) -> tuple[tuple[str, str], tuple[str, str]]:
    """``se.fc1``/``se.fc2`` (timm's SEModule), Keras ``_se_reduce``/``_se_expand``."""
    return (
        names.branch_layer("se.fc1", naming.attention_suffix("se", "reduce")),
        names.branch_layer("se.fc2", naming.attention_suffix("se", "expand")),
    )


@dataclass(frozen=True)
class RegNetBranch(Branch):
    """Its three main convs count toward the network's depth; the SE's two do not (as no
    attention module's do)."""

    @property
    def depth(self) -> int:
        return KIND.convs


def preact_names(names: naming.BlockNames, k: int) -> tuple[tuple[str, str], tuple[str, str]]:
    """The pre-activation block's (timm's PreBottleneck) ``norm<k>`` before ``conv<k>``, bare
    modules; Keras ``_1_preact_bn`` and ``_1_conv`` ... (the conv as a bottleneck's)."""
    norm = names.branch_layer(f"norm{k}", naming.KERAS.branch(k) + naming.PREACT + naming.NORM)
    return norm, names.conv(k)


def _preact_plan(context: BranchContext, knobs: RegNetKnobs) -> Branch:
    """timm's PreBottleneck: norm1 (and the activation) on the block's input, conv1 (1x1),
    norm2, conv2 (3x3, strided, grouped), the SE's two 1x1 convs, norm3, conv3 (1x1)."""
    _, width, out_channels = context.widths
    groups = regnet.groups(out_channels, knobs.bottle_ratio, knobs.group_width)
    shapes = [
        (context.in_channels, width, 1, 1, 1),
        (width, width, 3, groups, context.stride),
        (width, out_channels, 1, 1, 1),
    ]
    layers: list[Conv | Norm] = []
    size = context.size
    for k, (cin, cout, kernel, g, stride) in enumerate(shapes, start=1):
        if k == 3 and knobs.se:
            hidden = se_width(context.in_channels, knobs.se_ratio)
            fc1, fc2 = se_names(context.names)
            layers.append(Conv(*fc1, width, hidden, 1, 1, 1, True, 1))
            layers.append(Conv(*fc2, hidden, width, 1, 1, 1, True, 1))
        norm_names, conv_names = preact_names(context.names, k)
        layers.append(context.norm(*norm_names, cin))
        conv = Conv(
            *conv_names,
            in_channels=cin,
            out_channels=cout,
            kernel=kernel,
            stride=stride,
            groups=g,
            bias=context.bias(normalized=k < 3),
            in_size=size,
        )
        layers.append(conv)
        size = conv.out_size
    return RegNetBranch(tuple(layers), size)


def plan(context: BranchContext, knobs: Knobs) -> Branch:
    """conv1 (1x1), conv2 (3x3, strided, grouped), the SE's two 1x1 convs, conv3 (1x1)."""
    assert isinstance(knobs, RegNetKnobs)
    if context.preact:
        return _preact_plan(context, knobs)
    _, width, out_channels = context.widths
    groups = regnet.groups(out_channels, knobs.bottle_ratio, knobs.group_width)
    shapes = [
        (context.in_channels, width, 1, 1, 1),
        (width, width, 3, groups, context.stride),
        (width, out_channels, 1, 1, 1),
    ]
    layers: list[Conv | Norm] = []
    size = context.size
    for k, (cin, cout, kernel, g, stride) in enumerate(shapes, start=1):
        if k == 3 and knobs.se_ratio > 0:
            hidden = se_width(context.in_channels, knobs.se_ratio)
            fc1, fc2 = se_names(context.names)
            layers.append(Conv(*fc1, width, hidden, 1, 1, 1, True, 1))
            layers.append(Conv(*fc2, hidden, width, 1, 1, 1, True, 1))
        conv_names, norm_names = _names(context.names, k)
        conv = Conv(
            *conv_names,
            in_channels=cin,
            out_channels=cout,
            kernel=kernel,
            stride=stride,
            groups=g,
            bias=context.bias(normalized=True),
            in_size=size,
        )
        layers.append(conv)
        layers.append(context.norm(*norm_names, cout))
        size = conv.out_size
    return RegNetBranch(tuple(layers), size)


def check(spec: Any) -> list[Finding]:
    block = spec.block
    found: list[Finding] = []
    if block.attention is not None:
        found.append(
            (
                ("block", "attention"),
                "RegNet blocks take squeeze-and-excitation as block.se_ratio; remove attention",
            )
        )
    if block.reduce_first != 1:
        found.append((("block", "reduce_first"), "RegNet blocks have no narrower first conv"))
    if block.stride_at != "first":
        found.append((("block", "stride_at"), "RegNet blocks stride on a stage's first block"))
    if spec.anti_alias != "none":
        found.append((("anti_alias",), "RegNet blocks have no anti-aliasing; use none"))
    if block.se_ratio > 0:
        narrowest = min(_inputs(spec))
        if se_width(narrowest, block.se_ratio) < 1:
            found.append(
                (
                    ("block", "se_ratio"),
                    f"a block of {narrowest} input channels would get an SE of "
                    f"round({narrowest} * {block.se_ratio}) = 0 hidden channels; raise se_ratio",
                )
            )
    return found


def _inputs(spec: Any) -> list[int]:
    """Every width a block takes as input: the stem's (its last conv's is ``stem.channels``),
    then each stage's, as listed or as the spec's rule generates them."""
    if spec.regnet is None:
        widths = [stage.channels for stage in spec.stages]
    else:
        rule, block = spec.regnet, spec.block
        generated = regnet.stages(
            rule.depth,
            rule.w0,
            rule.wa,
            rule.wm,
            block.group_width,
            block.bottle_ratio,
            rule.quant,
            rule.rounding,
        )
        widths = [stage.width for stage in generated]
    return [spec.stem.channels, *widths]


def check_stage(spec: Any, knobs: Any, stage: Any) -> list[Finding]:
    """The bottleneck width is a multiple of the group width (or narrower than it)."""
    inner = regnet.inner_width(stage.channels, knobs.bottle_ratio)
    if inner < 1:
        return [(("channels",), f"round({stage.channels} * bottle_ratio) is 0 channels")]
    group = min(knobs.group_width, inner)
    if inner % group == 0:
        return []
    return [
        (
            ("channels",),
            f"the bottleneck width {inner} is not a multiple of block.group_width "
            f"{knobs.group_width}; use a multiple of it",
        )
    ]


def weights(names: naming.BlockNames) -> list[tuple[str, str, str]]:
    out = []
    for k in range(1, KIND.convs + 1):
        conv, norm = _names(names, k)
        out += [("conv", *conv), ("norm", *norm)]
    fc1, fc2 = se_names(names)
    for k in range(1, KIND.convs + 1):
        norm, conv = preact_names(names, k)
        out += [("norm", *norm), ("conv", *conv)]
    return [*out, ("conv", *fc1), ("conv", *fc2)]
