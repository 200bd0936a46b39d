"""What a block kind declares: its classes and templates, its knobs, and its planned branch.

A kind module (``basic.py``, ``bottleneck.py``, ...) declares ``ORDER``, ``Spec`` (its pydantic
model: ``type: Literal[...]``, the shared fields through the factories below, its own fields),
``KIND`` (a :class:`BlockKind`), and the functions the registry calls: ``knobs(spec)`` (its
:class:`Knobs` record), ``widths(knobs, channels, reduce_first)``, ``plan(context, knobs)`` (its
:class:`Branch`), ``check(spec)`` (its rules on the whole spec, where the block is its kind) and
``check_stage(spec, knobs, stage)`` (on each stage of its kind), and ``weights(names)`` (its
weighted layers for :mod:`resgen.weights.transfer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from resgen.components import attention, naming
from resgen.components.anti_alias import AntiAliasKind
from resgen.components.layers import AntiAlias, Conv, Norm

# A rule's finding: its path from the spec's root (``("block", "groups")``, ``("anti_alias",)``)
# or, for a stage's rule, from that stage (``("channels",)``, reported at
# ``stages[i].channels``), with its message.
Finding = tuple[tuple[str | int, ...], str]

# --- the fields every kind's spec shares (each kind's Spec lists them in its own order) -------

REDUCE_FIRST_DESCRIPTION = (
    "The first conv of every block outputs its width divided by this (floor); SENet-154 uses 2 "
    "(timm: `block_reduce_first`)."
)


def preact_field() -> Any:
    return Field(
        False, description="Pre-activation unit (He et al. 2016): norm and ReLU before each conv."
    )


def stride_at_field() -> Any:
    return Field(
        "first",
        description="Which block of a stage carries the stage's stride (keras ResNetV2: last).",
    )


def attention_field() -> Any:
    return Field(None, description=attention.DESCRIPTION)


def reduce_first_field() -> Any:
    return Field(1, ge=1, le=64, description=REDUCE_FIRST_DESCRIPTION)


# --- the declaration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockKind:
    """One block kind as block classes, pages and templates see it.

    ``template`` names the PyTorch class's template ``templates/torch/blocks/<template>.py.j2``
    (macro ``block_class(block, doc, page)``) and the Keras function's
    ``templates/keras/blocks/<template>.py.j2`` (macro ``block_function(block, doc, page)``),
    which the file calls ``<template>_block``; ``preact_template`` the pre-activation variant's
    (None: the kind has none, and ``preact: true`` is refused).
    """

    type: str  # the spec's ``block.type`` and ``stages[].block_type``
    class_name: str  # the PyTorch class (timm's and torchvision's name)
    template: str
    convs: int  # its main convs, ``conv1`` ... (one bias flag each, the last one's norm zeroed)
    preact_class_name: str | None = None
    preact_template: str | None = None
    takes_width: bool = False  # the class always takes an inner ``width`` argument
    takes_first_width: bool = False  # a narrower first conv (reduce_first) is its own argument
    last_norm: str | None = None  # the PyTorch attribute zero_init_last zeroes (default bn<convs>)
    # Module-level names its templates' ``define(kind)`` macro prints (helper classes and
    # functions such as timm's ``SplitAttn``), reserved for spec names; ``define`` runs once
    # per file, just before the kind's block class (it prints each helper followed by two
    # blank lines).
    defines: tuple[str, ...] = ()
    keras_ops: bool = False  # its Keras templates compute with ``keras.ops`` (the file imports it)
    keras_layers: bool = False  # its Keras ``define`` prints a custom layer (typed ``Any``)
    # What ends a pre-activation network of this kind after its last stage: ``norm``, the
    # final norm and the activation (ResNetV2, keras.applications); ``act``, the activation
    # alone (timm's pre-activation RegNet, whose ``final_conv`` is the activation).
    preact_head: Literal["norm", "act"] = "norm"
    # Which dilation ResNet-D's shortcut pool reads in a dilated stage (timm's resnet.py:
    # the stage's; regnet.py: the block's first, ``create_shortcut``'s ``dilation[0]``).
    shortcut_pool_dilation: Literal["dilation", "first_dilation"] = "dilation"
    # Its pre-activation templates print a norm alone where the norm kind carries its own
    # nonlinearity (the page's ``act_follows_norm``): only such a kind takes EvoNorm or FRN.
    activating_norms: bool = False
    # Its templates build every conv with the page's conv layer, so a conv kind (weight
    # standardisation) reaches it; the others print timm's nn.Conv2d, and the rules refuse one.
    takes_conv_kind: bool = False

    def templates(self) -> tuple[str, ...]:
        """Its templates' names (each also names a Keras block function)."""
        return tuple(t for t in (self.template, self.preact_template) if t is not None)


@dataclass(frozen=True)
class Knobs:
    """A stage's knobs of its block kind, read from the spec's block (or from the kind's
    defaults where a stage mixes kinds); a kind subclasses it with its own."""

    groups: int = 1  # groups of its grouped convs (a ``GROUPS`` constant where above 1)
    stride_on_first: bool = False  # its first conv takes the stride (the 3x3 does not)
    # Its grouped convs take each stage's own groups (not one ``GROUPS`` constant).
    varying_groups: ClassVar[bool] = False
    last_act: bool = False  # the activation follows its last norm too (basic's last_act)
    linear_out: bool = False  # no activation after the sum (RegNet-Z's linear_out)

    @property
    def sum_act(self) -> bool:
        """The activation follows the sum (every block but a ``linear_out`` one)."""
        return not self.linear_out

    def phrase(self, narrower: str) -> str:
        """Its convs in words, for the block's sentence (``narrower``: how reduce_first reads)."""
        raise NotImplementedError


# --- planning one block's branch --------------------------------------------------------------


@dataclass(frozen=True)
class BranchContext:
    """Everything a kind needs to plan one block's branch."""

    names: naming.BlockNames
    in_channels: int
    widths: tuple[int, int, int]  # (first conv's width, inner width, output width)
    stride: int
    size: int
    preact: bool
    keras_act: str
    conv_bias: Literal["none", "all", "unnormalized"]
    make_norm: Callable[[str, str, int], Norm]  # the planner's: the network's norm kind
    # The anti-aliasing pool wanted here (the block strides, or a blur's dilation grows).
    anti_alias: AntiAliasKind | None
    shortcut: str  # the shortcut the block has (``identity``, ``projection``, ...)

    def bias(self, normalized: bool) -> bool:
        """Whether a conv carries a bias, given whether a norm follows it."""
        return self.conv_bias == "all" or (self.conv_bias == "unnormalized" and not normalized)

    def norm(self, torch_name: str, keras_name: str, channels: int) -> Norm:
        """A norm of the network's kind over ``channels``, the activation after it in Keras
        named as the spec's activation (kinds build every norm through this)."""
        return self.make_norm(torch_name, keras_name, channels)

    def anti_alias_pool(
        self, torch_name: str, keras_name: str, channels: int, size: int
    ) -> AntiAlias:
        """The anti-aliasing pool wanted here (``anti_alias`` is not None), taking the block's
        stride on a ``size`` map (kinds build every such pool through this)."""
        assert self.anti_alias is not None
        return AntiAlias(self.anti_alias, torch_name, keras_name, channels, size, self.stride)


@dataclass(frozen=True)
class Branch:
    """A planned branch: its weighted layers in the order its PyTorch module registers them
    (the state_dict's order), the map size after it, and the anti-aliasing pool that took a
    strided conv's stride."""

    layers: tuple[Conv | Norm, ...]
    out_size: int
    anti_alias: AntiAlias | None = None

    @property
    def convs(self) -> tuple[Conv, ...]:
        """Its 2-D convolutions, in order."""
        return tuple(layer for layer in self.layers if isinstance(layer, Conv))

    @property
    def norms(self) -> tuple[Norm, ...]:
        """Its norms, in order."""
        return tuple(layer for layer in self.layers if isinstance(layer, Norm))

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        macs = sum(conv.macs for conv in self.convs)
        return macs + (self.anti_alias.macs if self.anti_alias else 0)

    @property
    def depth(self) -> int:
        """Its weighted layers on the main path (the network's depth counts them)."""
        return len(self.convs)


# A branch conv: (in channels, out channels, kernel, groups).
ConvShape = tuple[int, int, int, int]


def standard_branch(context: BranchContext, strided: int, shapes: list[ConvShape]) -> Branch:
    """Convs ``conv1`` ... with norms ``bn1`` ... in order (a pre-activation block's
    ``preact_bn`` leads and its last conv has none), conv ``strided`` taking the stride, or
    the anti-aliasing pool after it where it is a 3x3 (timm's rule: a blur pool also runs, at
    stride 1, where a dilated stage's dilation grows)."""
    names = context.names
    preact = context.preact
    aa_kind = context.anti_alias if shapes[strided][2] == 3 else None
    size = context.size
    stride = context.stride
    layers: list[Conv | Norm] = []
    anti_alias = None
    if preact:
        layers.append(context.norm(*names.preact_norm, shapes[0][0]))
    for i, (cin, cout, kernel, groups) in enumerate(shapes):
        normalized = not (preact and i == len(shapes) - 1)
        conv = Conv(
            *names.conv(i + 1),
            in_channels=cin,
            out_channels=cout,
            kernel=kernel,
            stride=stride if i == strided and aa_kind is None else 1,
            groups=groups,
            bias=context.bias(normalized),
            in_size=size,
        )
        layers.append(conv)
        size = conv.out_size
        if normalized:
            layers.append(context.norm(*names.norm(i + 1), cout))
        if i == strided and aa_kind is not None:
            anti_alias = context.anti_alias_pool(*names.anti_alias, cout, size)
            size = anti_alias.out_size
    return Branch(tuple(layers), size, anti_alias)


def check_per_group_width(channels: int, width_per_group: int) -> list[Finding]:
    """A grouped bottleneck's rule on a stage: its inner width, ``int(channels *
    width_per_group / 64)`` per group (torchvision's and timm's), keeps at least one channel."""
    if int(channels * width_per_group / 64) >= 1:
        return []
    return [
        (
            ("channels",),
            f"inner width int({channels} * {width_per_group} / 64) is 0 "
            f"per group; raise channels or block.width_per_group",
        )
    ]


def standard_weights(names: naming.BlockNames, convs: int) -> list[tuple[str, str, str]]:
    """The weighted layers of ``conv1`` ... ``conv<convs>`` and their norms: (layer kind,
    PyTorch path, Keras name)."""
    out = []
    for k in range(1, convs + 1):
        out += [("conv", *names.conv(k)), ("norm", *names.norm(k))]
    return out
