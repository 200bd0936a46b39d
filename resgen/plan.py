"""The plan: every number, name and decision a generated file needs, derived once from a spec.

Templates print a plan and decide nothing: no arithmetic, no policy names, no spec. ``summary``
and the parameter counts read the same plan, so the analytic figures and the built models cannot
disagree. What each backend's file prints around the network (imports, constants, helper
classes) is derived from the plan in :mod:`resgen.page`.

Naming follows two published schemes that map one-to-one (see :mod:`resgen.naming`):
torchvision's module paths (``layer1.0.conv1``) and keras.applications' layer names
(``conv2_block1_1_conv``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from resgen import naming
from resgen.naming import block_names, stage_names, stem_names
from resgen.spec import BottleneckBlockSpec, Shortcut, Spec

ShortcutKind = Literal["identity", "zero_pad", "projection", "avg_projection", "subsample", "none"]


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output size of a convolution or pooling window (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class Conv:
    """One convolution, with its names in both frameworks."""

    torch_name: str
    keras_name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    groups: int
    bias: bool
    in_size: int

    @property
    def padding(self) -> int:
        return self.kernel // 2

    @property
    def strided(self) -> bool:
        return self.stride != 1

    @property
    def keras_prefix(self) -> str:
        """The keras name without its ``_conv`` suffix: ``<prefix>_pad``, ``<prefix>_conv``."""
        return naming.keras_prefix(self.keras_name)

    @property
    def out_size(self) -> int:
        return conv_out(self.in_size, self.kernel, self.stride, self.padding)

    @property
    def params(self) -> int:
        weights = self.kernel * self.kernel * (self.in_channels // self.groups) * self.out_channels
        return weights + (self.out_channels if self.bias else 0)

    @property
    def macs(self) -> int:
        per_pixel = (
            self.kernel * self.kernel * (self.in_channels // self.groups) * self.out_channels
        )
        return per_pixel * self.out_size * self.out_size


@dataclass(frozen=True)
class Norm:
    """One batch norm (affine), with its names in both frameworks."""

    torch_name: str
    keras_name: str
    channels: int

    @property
    def params(self) -> int:
        return 2 * self.channels

    @property
    def keras_prefix(self) -> str:
        """The keras name without its ``_bn`` suffix: ``<prefix>_bn``, ``<prefix>_relu``."""
        return naming.keras_prefix(self.keras_name)

    @property
    def keras_relu(self) -> str:
        """The ReLU after this norm in Keras (``conv1_relu``)."""
        return self.keras_prefix + naming.RELU


@dataclass(frozen=True)
class Block:
    """One residual block: its branch convs and norms in order, and its shortcut."""

    stage: int
    index: int
    torch_name: str
    keras_name: str
    kind: Literal["basic", "bottleneck"]
    preact: bool
    in_channels: int
    width: int
    out_channels: int
    stride: int
    in_size: int
    out_size: int
    shortcut: ShortcutKind
    convs: tuple[Conv, ...]
    norms: tuple[Norm, ...]
    shortcut_convs: tuple[Conv, ...]
    shortcut_norms: tuple[Norm, ...]

    @property
    def params(self) -> int:
        layers = (*self.convs, *self.norms, *self.shortcut_convs, *self.shortcut_norms)
        return sum(layer.params for layer in layers)

    @property
    def macs(self) -> int:
        return sum(conv.macs for conv in (*self.convs, *self.shortcut_convs))


@dataclass(frozen=True)
class ShortcutRule:
    """A block class's shortcut as one rule: identity unless ``when`` holds, then ``module``.

    ``when`` names the template that prints the rule (``templates/<backend>/shortcuts/``):
    ``none`` (no shortcut at all: the plain network), ``always`` (the module on every block),
    ``on_shape_change`` (the module where channels or stride change), ``on_width_change`` (the
    module where channels change; a stride-only change subsamples the identity).
    """

    policy: Shortcut  # the spec's word, for the prose
    when: Literal["none", "always", "on_shape_change", "on_width_change"]
    zero_pad: bool  # the module is option A's parameter-free zero padding, not a projection
    pool: bool  # the projection starts with ResNet-D's 2x2 average pool where strided
    bias: bool  # the projection conv's bias
    norm: bool  # a batch norm after the projection conv
    source: Literal["x", "preact"]  # the variable the module reads

    @property
    def residual(self) -> bool:
        """False for the plain network: the branch's output is the block's output."""
        return self.when != "none"


@dataclass(frozen=True)
class BlockClass:
    """What one block class (PyTorch) or block function (Keras) of a generated file needs."""

    kind: Literal["basic", "bottleneck"]
    preact: bool
    stride_on_first: bool  # a bottleneck strides on its first 1x1 (v1), not the 3x3 (v1.5)
    groups: int
    conv_bias: tuple[bool, ...]  # per branch conv
    shortcut: ShortcutRule
    zero_init_residual: bool
    torch: naming.TorchBlockAttributes = field(default=naming.TORCH_BLOCK)
    keras: naming.KerasSuffixes = field(default=naming.KERAS)

    @property
    def class_name(self) -> str:
        base = "BasicBlock" if self.kind == "basic" else "Bottleneck"
        return f"PreAct{base}" if self.preact else base

    @property
    def function_name(self) -> str:
        """The block-building function of a Keras file (``bottleneck_block``)."""
        return f"{self.template}_block"

    @property
    def template(self) -> str:
        """The template of this block kind (``templates/<backend>/blocks/<template>.py.j2``)."""
        return f"preact_{self.kind}" if self.preact else self.kind

    @property
    def grouped(self) -> bool:
        return self.groups > 1

    @property
    def takes_width(self) -> bool:
        """The class takes an inner ``width`` besides ``out_channels`` (bottlenecks)."""
        return self.kind == "bottleneck"

    @property
    def zero_init_norm(self) -> str:
        """The branch's last norm, zeroed when ``zero_init_residual`` is set."""
        return self.torch.norm(len(self.conv_bias))


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
    stride: int
    in_size: int
    out_size: int

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

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
    """The layers before the first stage."""

    kind: Literal["imagenet", "cifar", "deep"]
    convs: tuple[Conv, ...]
    norms: tuple[Norm, ...]
    pool: bool
    pool_padding: Literal["ignore", "zeros"]
    in_channels: int
    in_size: int
    out_channels: int
    conv_out_size: int
    out_size: int
    torch_act: str = naming.STEM_ACTIVATION
    torch_pool: str = naming.STEM_POOL[0]
    keras_pool: str = naming.STEM_POOL[1]
    torch_pool_pad: str = naming.STEM_POOL_PAD[0]
    keras_pool_pad: str = naming.STEM_POOL_PAD[1]
    keras_input: str = naming.KERAS_INPUT

    @property
    def params(self) -> int:
        return sum(layer.params for layer in (*self.convs, *self.norms))

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
    def final_norm(self) -> Norm | None:
        """The norm after the last conv; None in pre-activation nets (the blocks norm first)."""
        return self.conv_norms[-1][1]

    @property
    def sequential(self) -> bool:
        """Several convs, held in one ``nn.Sequential`` named ``conv1`` (timm's deep stem)."""
        return len(self.convs) > 1

    @property
    def pool_zero_padded(self) -> bool:
        """The max pool pads with explicit zeros (keras.applications ResNetV2)."""
        return self.pool and self.pool_padding == "zeros"

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
        return sum(conv.macs for conv in self.convs)


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

    @property
    def params(self) -> int:
        norm = self.final_norm.params if self.final_norm else 0
        return norm + self.in_features * self.num_classes + self.num_classes

    @property
    def macs(self) -> int:
        return self.in_features * self.num_classes


@dataclass(frozen=True)
class NetworkPlan:
    """Everything about one network, derived from its spec (which it does not keep)."""

    name: str
    description: str
    norm_eps: float
    norm_momentum: float  # PyTorch's convention: the weight of the new batch
    stride_at: Literal["first", "last"]  # the block of each stage that carries its stride
    conv_bias: bool  # some conv has a bias (the init zeroes them)
    stem: Stem
    stages: tuple[Stage, ...]
    head: Head

    @property
    def blocks(self) -> tuple[Block, ...]:
        return tuple(block for stage in self.stages for block in stage.blocks)

    @property
    def block_classes(self) -> tuple[BlockClass, ...]:
        """The distinct block classes, in the order the stages first use them."""
        return tuple(dict.fromkeys(stage.block_class for stage in self.stages))

    @property
    def block_class(self) -> BlockClass:
        """The first stage's block class (the only one while a spec has one block kind)."""
        return self.stages[0].block_class

    @property
    def grouped(self) -> bool:
        """Some block has a grouped 3x3 conv (a ``GROUPS`` constant)."""
        return any(block.grouped for block in self.block_classes)

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
    def feature_strides(self) -> tuple[int, ...]:
        """The stride of each feature map: the stem's (before its pool), then each stage's."""
        strides = [self.stem.conv_stride]
        stride = self.stem.stride
        for stage in self.stages:
            stride *= stage.stride
            strides.append(stride)
        return tuple(strides)

    @property
    def min_input_size(self) -> int:
        """The least height and width every stride-2 layer sees at 2 x 2 or more."""
        halvings = sum(conv.stride == 2 for conv in self.stem.convs) + int(self.stem.pool)
        halvings += sum(stage.stride == 2 for stage in self.stages)
        size = 1
        for _ in range(halvings):
            size = max(2, 2 * size - 1)
        return size

    @property
    def params(self) -> int:
        return self.stem.params + sum(s.params for s in self.stages) + self.head.params

    @property
    def macs(self) -> int:
        return self.stem.macs + sum(s.macs for s in self.stages) + self.head.macs

    @property
    def depth(self) -> int:
        """Weighted layers on the main path: stem convs, branch convs, classifier."""
        return len(self.stem.convs) + sum(len(b.convs) for b in self.blocks) + 1

    @property
    def convs(self) -> tuple[Conv, ...]:
        out = list(self.stem.convs)
        for block in self.blocks:
            out += [*block.convs, *block.shortcut_convs]
        return tuple(out)

    @property
    def norms(self) -> tuple[Norm, ...]:
        out = list(self.stem.norms)
        for block in self.blocks:
            out += [*block.norms, *block.shortcut_norms]
        if self.head.final_norm:
            out.append(self.head.final_norm)
        return tuple(out)


def inner_width(spec: Spec, channels: int) -> int:
    """A block's inner width: torchvision's ``int(planes * base_width / 64) * groups``."""
    block = spec.block
    if isinstance(block, BottleneckBlockSpec):
        return int(channels * block.width_per_group / 64) * block.groups
    return channels


def out_channels(spec: Spec, channels: int) -> int:
    block = spec.block
    return channels * block.expansion if isinstance(block, BottleneckBlockSpec) else channels


def _bias(spec: Spec, normalized: bool) -> bool:
    return spec.conv_bias == "all" or (spec.conv_bias == "unnormalized" and not normalized)


def _shortcut_kind(spec: Spec, in_channels: int, out_ch: int, stride: int) -> ShortcutKind:
    same_shape = in_channels == out_ch and stride == 1
    policy = spec.shortcut
    if policy == "none":
        return "none"
    if policy == "always_projection":
        return "projection"
    if same_shape:
        return "identity"
    if policy == "zero_pad":
        return "zero_pad"
    if in_channels == out_ch and spec.stride_shortcut == "subsample":
        return "subsample"
    return "avg_projection" if policy == "avg_projection" else "projection"


def _shortcut_rule(spec: Spec) -> ShortcutRule:
    policy = spec.shortcut
    preact = spec.block.preact
    when: Literal["none", "always", "on_shape_change", "on_width_change"]
    if policy == "none":
        when = "none"
    elif policy == "always_projection":
        when = "always"
    elif policy != "zero_pad" and spec.stride_shortcut == "subsample":
        when = "on_width_change"
    else:
        when = "on_shape_change"
    zero_pad = policy == "zero_pad"
    return ShortcutRule(
        policy=policy,
        when=when,
        zero_pad=zero_pad,
        pool=policy == "avg_projection",
        bias=_bias(spec, normalized=not preact),
        norm=not preact,
        source="preact" if preact and not zero_pad else "x",
    )


def _block_class(spec: Spec) -> BlockClass:
    block = spec.block
    bottleneck = isinstance(block, BottleneckBlockSpec)
    kinds = 3 if bottleneck else 2
    conv_bias = tuple(_bias(spec, not (block.preact and k == kinds - 1)) for k in range(kinds))
    return BlockClass(
        kind=block.type,
        preact=block.preact,
        stride_on_first=bottleneck and block.stride_on == "1x1",
        groups=block.groups if bottleneck else 1,
        conv_bias=conv_bias,
        shortcut=_shortcut_rule(spec),
        zero_init_residual=spec.zero_init_residual,
    )


def _plan_stem(spec: Spec) -> Stem:
    preact = spec.block.preact
    names = stem_names(spec.stem.type)
    size, channels = spec.input.size, spec.input.channels
    if spec.stem.type == "deep":
        half = spec.stem.channels // 2
        shapes = [(half, 2), (half, 1), (spec.stem.channels, 1)]
        kernel = 3
    elif spec.stem.type == "imagenet":
        shapes, kernel = [(spec.stem.channels, 2)], 7
    else:
        shapes, kernel = [(spec.stem.channels, 1)], 3
    convs: list[Conv] = []
    norms: list[Norm] = []
    for i, (width, stride) in enumerate(shapes):
        last = i == len(shapes) - 1
        normalized = not (last and preact)
        torch_conv, keras_conv, torch_norm, keras_norm = names[i]
        conv = Conv(
            torch_name=torch_conv,
            keras_name=keras_conv,
            in_channels=channels,
            out_channels=width,
            kernel=kernel,
            stride=stride,
            groups=1,
            bias=_bias(spec, normalized),
            in_size=size,
        )
        convs.append(conv)
        if normalized:
            norms.append(Norm(torch_name=torch_norm, keras_name=keras_norm, channels=width))
        size, channels = conv.out_size, width
    conv_out_size = size
    pool = spec.stem.type != "cifar"
    if pool:
        size = conv_out(size, 3, 2, 1)
    return Stem(
        kind=spec.stem.type,
        convs=tuple(convs),
        norms=tuple(norms),
        pool=pool,
        pool_padding=spec.stem.pool_padding,
        in_channels=spec.input.channels,
        in_size=spec.input.size,
        out_channels=channels,
        conv_out_size=conv_out_size,
        out_size=size,
    )


def _plan_block(
    spec: Spec, stage: int, index: int, in_channels: int, channels: int, stride: int, size: int
) -> Block:
    block_spec = spec.block
    preact = block_spec.preact
    width = inner_width(spec, channels)
    out_ch = out_channels(spec, channels)
    names = block_names(stage, index)
    if isinstance(block_spec, BottleneckBlockSpec):
        strides = (stride, 1, 1) if block_spec.stride_on == "1x1" else (1, stride, 1)
        layout = [
            (in_channels, width, 1, 1),
            (width, width, 3, block_spec.groups),
            (width, out_ch, 1, 1),
        ]
    else:
        strides = (stride, 1)
        layout = [(in_channels, width, 3, 1), (width, out_ch, 3, 1)]
    convs: list[Conv] = []
    norms: list[Norm] = []
    if preact:
        norms.append(Norm(names.preact_norm[0], names.preact_norm[1], in_channels))
    conv_size = size
    for i, ((cin, cout, kernel, groups), conv_stride) in enumerate(
        zip(layout, strides, strict=True)
    ):
        last = i == len(layout) - 1
        normalized = not (preact and last)
        conv = Conv(
            torch_name=names.conv(i + 1)[0],
            keras_name=names.conv(i + 1)[1],
            in_channels=cin,
            out_channels=cout,
            kernel=kernel,
            stride=conv_stride,
            groups=groups,
            bias=_bias(spec, normalized),
            in_size=conv_size,
        )
        convs.append(conv)
        conv_size = conv.out_size
        if normalized:
            norms.append(Norm(names.norm(i + 1)[0], names.norm(i + 1)[1], cout))

    kind = _shortcut_kind(spec, in_channels, out_ch, stride)
    shortcut_convs: tuple[Conv, ...] = ()
    shortcut_norms: tuple[Norm, ...] = ()
    if kind in ("projection", "avg_projection"):
        pooled = kind == "avg_projection" and stride > 1
        conv_torch, conv_keras, norm_torch, norm_keras = names.projection(
            avg=kind == "avg_projection"
        )
        shortcut_convs = (
            Conv(
                torch_name=conv_torch,
                keras_name=conv_keras,
                in_channels=in_channels,
                out_channels=out_ch,
                kernel=1,
                stride=1 if pooled else stride,
                groups=1,
                bias=_bias(spec, normalized=not preact),
                in_size=(size + 1) // 2 if pooled else size,
            ),
        )
        if not preact:
            shortcut_norms = (Norm(norm_torch, norm_keras, out_ch),)
    return Block(
        stage=stage,
        index=index,
        torch_name=names.torch,
        keras_name=names.keras,
        kind=block_spec.type,
        preact=preact,
        in_channels=in_channels,
        width=width,
        out_channels=out_ch,
        stride=stride,
        in_size=size,
        out_size=conv_size,
        shortcut=kind,
        convs=tuple(convs),
        norms=tuple(norms),
        shortcut_convs=shortcut_convs,
        shortcut_norms=shortcut_norms,
    )


def build_plan(spec: Spec) -> NetworkPlan:
    """Derive the full plan of a validated spec (cross-field rules already checked)."""
    stem = _plan_stem(spec)
    block_class = _block_class(spec)
    size, channels = stem.out_size, stem.out_channels
    stages: list[Stage] = []
    for s, stage_spec in enumerate(spec.stages, start=1):
        strided = 0 if spec.block.stride_at == "first" else stage_spec.blocks - 1
        blocks: list[Block] = []
        in_size, in_channels = size, channels
        for b in range(stage_spec.blocks):
            stride = stage_spec.stride if b == strided else 1
            block = _plan_block(spec, s, b, channels, stage_spec.channels, stride, size)
            blocks.append(block)
            size, channels = block.out_size, block.out_channels
        torch_name, keras_name = stage_names(s)
        stages.append(
            Stage(
                index=s,
                torch_name=torch_name,
                keras_name=keras_name,
                blocks=tuple(blocks),
                block_class=block_class,
                in_channels=in_channels,
                width=blocks[0].width,
                out_channels=channels,
                stride=stage_spec.stride,
                in_size=in_size,
                out_size=size,
            )
        )
    final_norm = None
    if spec.block.preact:
        final_norm = Norm(naming.FINAL_NORM[0], naming.FINAL_NORM[1], channels)
    head = Head(
        final_norm=final_norm,
        in_features=channels,
        num_classes=spec.num_classes,
        dropout=spec.dropout,
    )
    return NetworkPlan(
        name=spec.name,
        description=spec.description,
        norm_eps=spec.norm.eps,
        norm_momentum=spec.norm.momentum,
        stride_at=spec.block.stride_at,
        conv_bias=spec.conv_bias != "none",
        stem=stem,
        stages=tuple(stages),
        head=head,
    )
