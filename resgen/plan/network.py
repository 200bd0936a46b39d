"""The plan: every number, name and decision a generated file needs, derived once from a spec.

Templates print a plan and decide nothing: no arithmetic, no policy names, no spec. ``summary``
and the parameter counts read the same plan, so the analytic figures and the built models cannot
disagree. What each backend's file prints around the network (imports, constants, helper
classes) is derived from the plan in :mod:`resgen.rendering.page`. This module holds the plan's
types; :func:`resgen.plan.planner.build_plan` makes one from a spec.

Naming follows two published schemes that map one-to-one (see :mod:`resgen.components.naming`):
torchvision's module paths (``layer1.0.conv1``) and keras.applications' layer names
(``conv2_block1_1_conv``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from resgen.components import naming
from resgen.components.activation import Activation
from resgen.components.anti_alias import AntiAliasKind
from resgen.components.attention import Attention, AttentionKind
from resgen.components.attention import ordered as attention_order
from resgen.components.block import BlockKind, Branch, Knobs
from resgen.components.conv import ConvSettings
from resgen.components.layers import AntiAlias, Conv, Norm, conv_out
from resgen.components.naming import block_names
from resgen.components.norm import NormSettings, NormType
from resgen.components.shortcut import BlockShortcut, ShortcutRule
from resgen.components.stem import StemKind
from resgen.components.stem_pool import StemPool
from resgen.spec.pretrained import Preprocessing

__all__ = [
    "AntiAlias",
    "Attention",
    "Block",
    "BlockClass",
    "Conv",
    "Head",
    "NetworkPlan",
    "Norm",
    "ShortcutRule",
    "Stage",
    "Stem",
    "conv_out",
]

# What one block's shortcut is (the shortcut family's word for it).
ShortcutKind = BlockShortcut


@dataclass(frozen=True)
class Block:
    """One residual block: its branch (convs and norms in order, the anti-aliasing pool, as its
    kind planned it), its attention and stochastic depth, and its shortcut."""

    stage: int
    index: int
    number: int  # 0-based over the whole network (stochastic depth's i)
    torch_name: str
    keras_name: str
    kind: str  # its block kind's ``type`` (``basic``, ``bottleneck``, ...)
    preact: bool
    in_channels: int
    first_width: int  # the first conv's output: width // reduce_first
    width: int  # a bottleneck's 3x3 width; a basic block's first conv output
    out_channels: int
    stride: int
    in_size: int
    out_size: int
    shortcut: ShortcutKind
    branch: Branch
    shortcut_convs: tuple[Conv, ...]
    shortcut_norms: tuple[Norm, ...]
    attention: Attention | None
    drop_path: float  # the probability of dropping the branch in training

    @property
    def convs(self) -> tuple[Conv, ...]:
        return self.branch.convs

    @property
    def norms(self) -> tuple[Norm, ...]:
        return self.branch.norms

    @property
    def anti_alias(self) -> AntiAlias | None:
        """The pool that takes the strided 3x3's stride, after its activation."""
        return self.branch.anti_alias

    @property
    def params(self) -> int:
        layers = (*self.shortcut_convs, *self.shortcut_norms)
        attention = self.attention.params if self.attention else 0
        return self.branch.params + sum(layer.params for layer in layers) + attention

    @property
    def macs(self) -> int:
        macs = self.branch.macs + sum(conv.macs for conv in self.shortcut_convs)
        return macs + (self.attention.macs if self.attention else 0)


@dataclass(frozen=True)
class BlockClass:
    """What one block class (PyTorch) or block function (Keras) of a generated file needs."""

    kind: BlockKind  # its kind's declaration (classes, templates, arguments)
    knobs: Knobs  # its kind's knobs (the kind's own record: groups, where it strides, ...)
    preact: bool
    conv_bias: tuple[bool, ...]  # per branch conv
    shortcut: ShortcutRule
    zero_init_residual: bool
    torch: naming.TorchBlockAttributes = field(default=naming.TORCH_BLOCK)
    keras: naming.KerasSuffixes = field(default=naming.KERAS)
    attention: AttentionKind | None = None  # channel attention after the last norm
    anti_alias: AntiAliasKind | None = None  # a pool takes the stride of the 3x3 conv
    drop_path: bool = False  # stochastic depth on the branch, before the sum
    reduce_first: bool = False  # the first conv is narrower than the width (SENet-154)
    mixed: bool = False  # the network mixes block kinds: both take the same arguments
    activation: Activation = "relu"
    norm: NormType = "batch"

    @property
    def type(self) -> str:
        """Its kind's name (``basic``, ``bottleneck``, ...)."""
        return self.kind.type

    @property
    def class_name(self) -> str:
        name = self.kind.preact_class_name if self.preact else self.kind.class_name
        assert name is not None  # the rules refuse preact for a kind without the variant
        return name

    @property
    def function_name(self) -> str:
        """The block-building function of a Keras file (``bottleneck_block``)."""
        return f"{self.template}_block"

    @property
    def template(self) -> str:
        """The template of this block kind (``templates/<backend>/blocks/<template>.py.j2``)."""
        template = self.kind.preact_template if self.preact else self.kind.template
        assert template is not None  # the rules refuse preact for a kind without the variant
        return template

    @property
    def groups(self) -> int:
        return self.knobs.groups

    @property
    def grouped(self) -> bool:
        return self.knobs.groups > 1

    @property
    def sentence(self) -> str:
        """Its convs in words (its kind's phrase)."""
        return self.knobs.phrase(", the first narrower" if self.reduce_first else "")

    @property
    def takes_width(self) -> bool:
        """The class takes an inner ``width`` besides ``out_channels``: kinds that always do
        (bottlenecks), and the others where their first conv is narrower or they share a stage
        table with another kind."""
        return self.kind.takes_width or self.mixed or self.reduce_first

    @property
    def takes_first_width(self) -> bool:
        """A kind whose first conv outputs ``first_width``, narrower than ``width``."""
        return self.kind.takes_first_width and self.reduce_first

    @property
    def first_out(self) -> str:
        """The argument the first conv outputs: ``first_width``, ``width`` or
        ``out_channels`` (a basic block that takes no width)."""
        if self.takes_first_width:
            return "first_width"
        return "width" if self.takes_width else "out_channels"

    @property
    def strided_3x3(self) -> bool:
        """The 3x3 conv takes the block's stride (not the first 1x1, nor an anti-aliasing
        pool)."""
        return not self.knobs.stride_on_first and self.anti_alias is None

    @property
    def keyword_args(self) -> bool:
        """The class takes keyword-only arguments: attention widths, a drop-path rate."""
        return bool(self.attention_arguments) or self.drop_path

    @property
    def branch_tail(self) -> bool:
        """Modules after the branch's last conv and norm: attention, stochastic depth."""
        return self.attention is not None or self.drop_path

    @property
    def attention_arguments(self) -> tuple[str, ...]:
        """The keyword arguments its attention takes (none without)."""
        return self.attention.arguments if self.attention else ()

    @property
    def zero_init_norm(self) -> str:
        """The branch's last norm, zeroed when ``zero_init_residual`` is set."""
        return self.kind.last_norm or self.torch.norm(self.kind.convs)


@dataclass(frozen=True)
class Stage:
    """A run of blocks at one width."""

    index: int
    torch_name: str
    keras_name: str
    blocks: tuple[Block, ...]
    block_class: BlockClass
    in_channels: int
    width: int
    out_channels: int
    stride: int  # the stage table's, before output_stride turns it into dilation
    in_size: int
    out_size: int
    dilation: int = 1  # its 3x3 convs' dilation at the spec's output_stride (1: not dilated)

    @property
    def applied_stride(self) -> int:
        """The stride it applies at the spec's output_stride (1 where dilated)."""
        return 1 if self.dilation > 1 else self.stride

    @property
    def first_block(self) -> int:
        """The network-wide number of its first block (stochastic depth's rule counts them)."""
        return self.blocks[0].number

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def first_width(self) -> int:
        return self.blocks[0].first_width

    @property
    def attention_arguments(self) -> tuple[tuple[str, int], ...]:
        """Its blocks' attention arguments, (name, value) (all blocks of a stage share them)."""
        attention = self.blocks[0].attention
        return attention.arguments if attention else ()

    @property
    def torch_ref(self) -> str:
        """The stage as the network's code reaches it: its attribute (``layer1``), or its place
        in the dialect's stage container (``stages[0]`` for timm's ``stages.0``)."""
        container, dot, index = self.torch_name.partition(".")
        return f"{container}[{index}]" if dot else self.torch_name

    @property
    def keras_out(self) -> str:
        """The Keras layer whose output is this stage's feature map: its last block's output."""
        return block_names(self.index, len(self.blocks) - 1).keras_out

    @property
    def params(self) -> int:
        return sum(block.params for block in self.blocks)

    @property
    def macs(self) -> int:
        return sum(block.macs for block in self.blocks)


@dataclass(frozen=True)
class Stem:
    """The layers before the first stage, of a stem kind (:mod:`resgen.components.stem`), and
    the pool (or what replaces it) after them: a stem pool kind's record
    (:mod:`resgen.components.stem_pool`), None for a stem without one (cifar)."""

    kind: StemKind
    convs: tuple[Conv, ...]
    norms: tuple[Norm, ...]
    in_channels: int
    in_size: int
    out_channels: int
    conv_out_size: int
    pool: StemPool | None = None
    torch_act: str = naming.STEM_ACTIVATION
    # The dialect's one nn.Sequential holding the stem's convs, norms and activations
    # (``layer0``), and its activations' names there; None: they are the network's attributes.
    torch_container: str | None = None
    torch_acts: tuple[str, ...] = ()
    keras_input: str = naming.KERAS_INPUT

    @property
    def out_size(self) -> int:
        return self.pool.out_size if self.pool else self.conv_out_size

    @property
    def params(self) -> int:
        layers = (*self.convs, *self.norms)
        return sum(layer.params for layer in layers) + (self.pool.params if self.pool else 0)

    @property
    def conv_norms(self) -> tuple[tuple[Conv, Norm | None], ...]:
        """Each conv with the norm after it (None after a pre-activation stem's last conv)."""
        norms: tuple[Norm | None, ...] = self.norms
        if len(norms) < len(self.convs):
            norms = (*norms, None)
        return tuple(zip(self.convs, norms, strict=True))

    @property
    def torch_conv(self) -> str:
        """The stem's conv attribute: ``conv1`` (an ``nn.Sequential`` of several in timm's)."""
        return self.convs[0].torch_name.partition(".")[0]

    @property
    def container_layers(self) -> tuple[tuple[Conv, Norm | None, str], ...]:
        """Each conv, its norm and its activation's name inside ``torch_container``."""
        acts = self.torch_acts or ("",) * len(self.convs)
        return tuple(
            (conv, norm, act) for (conv, norm), act in zip(self.conv_norms, acts, strict=True)
        )

    @property
    def pool_in_container(self) -> bool:
        """The dialect holds the pool in the stem's ``nn.Sequential`` too (timm's resnetv2.py:
        ``stem.pool`` after ``stem.conv``)."""
        pool, container = self.pool, self.torch_container
        return bool(pool and container and pool.torch_name.startswith(f"{container}."))

    @property
    def torch_call(self) -> str:
        """What the forward calls for the stem's convs: the container, or its children up to
        the pool where the pool lives there too (``stem[:1]``, timm's ``stem.conv``)."""
        if self.pool_in_container:
            children = len(self.convs) + sum(norm.torch_children for norm in self.norms)
            return f"{self.torch_container}[:{children}]"
        return self.torch_container or ""

    @property
    def torch_module(self) -> str:
        """The PyTorch module whose output is the stem's map before its pool: the container
        (its last conv where it holds the pool too), else the activation (the last conv in a
        pre-activation net)."""
        if self.pool_in_container:
            return self.convs[-1].torch_name
        if self.torch_container:
            return self.torch_container
        return self.torch_act if self.final_norm else self.torch_conv

    @property
    def final_norm(self) -> Norm | None:
        """The norm after the last conv; None in pre-activation nets (the blocks norm first)."""
        return self.conv_norms[-1][1]

    @property
    def keras_feature(self) -> str:
        """The Keras layer whose output is the stem's feature map before its max pool."""
        norm = self.final_norm
        return norm.keras_relu if norm else self.convs[-1].keras_name

    @property
    def conv_stride(self) -> int:
        """The stride of the stem's convs, before its max pool."""
        stride = 1
        for conv in self.convs:
            stride *= conv.stride
        return stride

    @property
    def stride(self) -> int:
        return self.conv_stride * (2 if self.pool else 1)

    @property
    def macs(self) -> int:
        macs = sum(conv.macs for conv in self.convs)
        return macs + (self.pool.macs if self.pool else 0)


@dataclass(frozen=True)
class Head:
    """Final norm (pre-activation nets), global average pool, dropout, classifier."""

    final_norm: Norm | None
    in_features: int
    num_classes: int
    dropout: float
    torch_name: str = naming.CLASSIFIER[0]
    keras_name: str = naming.CLASSIFIER[1]
    torch_pool: str = naming.GLOBAL_POOL[0]
    keras_pool: str = naming.GLOBAL_POOL[1]
    keras_max_pool: str = naming.KERAS_MAX_POOL
    torch_dropout: str = naming.DROPOUT[0]
    keras_dropout: str = naming.DROPOUT[1]
    # PyTorch's classifier is a 1x1 conv on the pooled map (timm's ClassifierHead with
    # ``use_conv``), not a linear layer: the same weights, shaped (classes, features, 1, 1).
    conv: bool = False
    # The activation alone after the last stage, no norm (timm's pre-activation RegNet and
    # RegNet-Z with ``num_features`` 0: ``final_conv`` is the activation).
    final_act: bool = False
    keras_final_act: str = "post" + naming.RELU  # its Keras layer (``post_act`` if not ReLU)
    # A 1x1 conv, its norm and the activation after the last stage, to ``in_features``
    # (timm regnet.py's ``final_conv``, RegNet-Z's ``num_features``); none without one.
    final_conv: Conv | None = None
    final_conv_norm: Norm | None = None
    torch_final_conv: str = naming.FINAL_CONV[0]  # its nn.Sequential: conv, bn, act

    @property
    def torch_container(self) -> str | None:
        """The module holding the classifier where the dialect nests it (``head`` of
        ``head.fc``, timm's ClassifierHead); None: the network's own attribute."""
        container, dot, _ = self.torch_name.rpartition(".")
        return container if dot else None

    @property
    def final_layers(self) -> tuple[Conv | Norm, ...]:
        """The final conv and its norm, where there is one."""
        if self.final_conv is None or self.final_conv_norm is None:
            return ()
        return (self.final_conv, self.final_conv_norm)

    @property
    def params(self) -> int:
        norm = self.final_norm.params if self.final_norm else 0
        norm += sum(layer.params for layer in self.final_layers)
        return norm + self.in_features * self.num_classes + self.num_classes

    @property
    def macs(self) -> int:
        final = self.final_conv.macs if self.final_conv else 0
        return final + self.in_features * self.num_classes


Rounding = Literal["up", "down"]


def smallest_input(halvings: tuple[Rounding, ...]) -> int:
    """The least height and width for which each stride-2 layer, in order, sees 2 x 2 or more:
    ``up`` halves rounding up (strided convs, max and blur pools), ``down`` rounding down (the
    2x2 average pool)."""
    size = 1
    for rounding in reversed(halvings):
        size = max(2, 2 * size - 1 if rounding == "up" else 2 * size)
    return size


@dataclass(frozen=True)
class NetworkPlan:
    """Everything about one network, derived from its spec (which it does not keep)."""

    name: str
    description: str
    norm: NormSettings  # the norms' kind and the settings its helper reads (eps, ...)
    conv: ConvSettings  # the convs' kind and the settings its layer reads (eps, ...)
    stride_at: Literal["first", "last"]  # the block of each stage that carries its stride
    conv_bias: bool  # some conv has a bias (the init zeroes them)
    stem: Stem
    stages: tuple[Stage, ...]
    head: Head
    activation: Activation = "relu"
    anti_alias: AntiAliasKind | None = None  # every block class's (the file defines its helper)
    drop_path_rate: float = 0.0  # the last block's; block i of N drops with rate * i / (N - 1)
    preprocessing: Preprocessing | None = None  # how the weights expect images (planner sets it)
    output_stride: int = 32  # the factories' default (spec's output_stride)
    derivation: str = ""  # how a rule generated the stages (RegNet's), in words
    # What a stage's nn.Sequential names its blocks after: None, their index; else this
    # prefix and the block's number from 1 (timm's regnet.py: ``b1``).
    block_child: str | None = None

    @property
    def named_children(self) -> bool:
        """Some nn.Sequential names its children (the file imports ``OrderedDict``)."""
        named_shortcuts = any(b.torch.shortcut_parts for b in self.block_classes)
        named = bool(self.stem.torch_container) or bool(self.block_child) or named_shortcuts
        return named or self.head.final_conv is not None

    dialect: naming.Dialect = naming.TIMM  # whose PyTorch names it takes (spec's naming)

    @property
    def stage_container(self) -> str | None:
        """The attribute holding the stages as one ``nn.Sequential`` (timm's ``stages``)."""
        return self.dialect.stage_container

    @property
    def stage_blocks(self) -> str | None:
        """The attribute inside a stage holding its blocks (timm's ResNetStage ``blocks``)."""
        return self.dialect.stage_blocks

    @property
    def blocks(self) -> tuple[Block, ...]:
        return tuple(block for stage in self.stages for block in stage.blocks)

    @property
    def num_blocks(self) -> int:
        return sum(stage.num_blocks for stage in self.stages)

    @property
    def block_classes(self) -> tuple[BlockClass, ...]:
        """The distinct block classes, in the order the stages first use them."""
        return tuple(dict.fromkeys(stage.block_class for stage in self.stages))

    @property
    def block_class(self) -> BlockClass:
        """The first stage's block class (the only one unless stages mix block kinds)."""
        return self.stages[0].block_class

    @property
    def mixed(self) -> bool:
        """Stages use different block kinds (timm's test_resnet)."""
        return len(self.block_classes) > 1

    @property
    def grouped(self) -> bool:
        """Some block has a grouped 3x3 conv (a ``GROUPS`` constant)."""
        return any(block.grouped for block in self.block_classes)

    @property
    def grouped_convs(self) -> bool:
        """Some block has a grouped conv (Keras' ``conv2d`` helper takes ``groups``)."""
        return self.grouped or any(b.knobs.varying_groups for b in self.block_classes)

    @property
    def preact(self) -> bool:
        """Pre-activation network: the stem ends in a bare conv and the head starts with a norm."""
        return self.head.final_norm is not None

    @property
    def stride_at_last(self) -> bool:
        return self.stride_at == "last"

    @property
    def zero_init_residual(self) -> bool:
        return any(block.zero_init_residual for block in self.block_classes)

    @property
    def attention_kinds(self) -> tuple[AttentionKind, ...]:
        """The attention kinds its blocks use, in the registry's order."""
        return attention_order({b.attention for b in self.block_classes if b.attention})

    @property
    def attention_arguments(self) -> tuple[str, ...]:
        """Every keyword argument some block's attention takes (each a ``STAGES`` column)."""
        return tuple(name for kind in self.attention_kinds for name in kind.arguments)

    @property
    def drop_path(self) -> bool:
        return self.drop_path_rate > 0

    @property
    def feature_strides(self) -> tuple[int, ...]:
        """The stride of each feature map: the stem's (before its pool), then each stage's."""
        strides = [self.stem.conv_stride]
        stride = self.stem.stride
        for stage in self.stages:
            stride *= stage.applied_stride
            strides.append(stride)
        return tuple(strides)

    @property
    def halvings(self) -> tuple[Rounding, ...]:
        """Every stride-2 layer on the main path, in order, by how it rounds an odd size."""
        out: list[Rounding] = ["up" for conv in self.stem.convs if conv.stride == 2]
        if self.stem.pool:
            out.append(self.stem.pool.rounding)
        for block in self.blocks:
            if block.stride == 2:
                aa = block.anti_alias
                out.append(aa.rounding if aa else "up")
        return tuple(out)

    @property
    def min_input_size(self) -> int:
        """The least height and width every stride-2 layer sees at 2 x 2 or more."""
        return smallest_input(self.halvings)

    @property
    def params(self) -> int:
        return self.stem.params + sum(s.params for s in self.stages) + self.head.params

    @property
    def macs(self) -> int:
        return self.stem.macs + sum(s.macs for s in self.stages) + self.head.macs

    @property
    def depth(self) -> int:
        """Weighted layers on the main path: stem convs (ResNet-RS's pool conv too), branch
        convs, classifier."""
        pool = self.stem.pool
        stem = len(self.stem.convs) + (len(pool.convs) if pool else 0)
        final = 1 if self.head.final_conv else 0
        return stem + sum(b.branch.depth for b in self.blocks) + final + 1

    @property
    def convs(self) -> tuple[Conv, ...]:
        """Every 2-D convolution with weights (those inside attention modules included), in the
        order the modules are registered."""
        out = list(self.stem.convs)
        if self.stem.pool:
            out += self.stem.pool.convs
        for block in self.blocks:
            out += block.convs
            if block.attention:
                out += block.attention.convs
            out += block.shortcut_convs
        if self.head.final_conv:
            out.append(self.head.final_conv)
        return tuple(out)

    @property
    def norms(self) -> tuple[Norm, ...]:
        out = list(self.stem.norms)
        if self.stem.pool:
            out += self.stem.pool.norms
        for block in self.blocks:
            out += [*block.norms, *block.shortcut_norms]
        if self.head.final_norm:
            out.append(self.head.final_norm)
        if self.head.final_conv_norm:
            out.append(self.head.final_conv_norm)
        return tuple(out)
