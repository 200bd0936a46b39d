"""From a spec to its plan: :func:`build_plan` derives every number, name and decision of a
:class:`~resgen.plan.NetworkPlan` once, from the per-stage facts of :mod:`resgen.stages` (which
the cross-field checks in :mod:`resgen.rules` read too) and the component families.

The plan's types live in :mod:`resgen.plan`; the layers they hold in :mod:`resgen.plan_layers`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from resgen import naming
from resgen.components import anti_alias, attention, norm, stem_pool
from resgen.components import stem as stem_family
from resgen.components.anti_alias import AntiAliasKind
from resgen.components.stem_pool import At, StemPool
from resgen.naming import block_names, stage_names
from resgen.plan import (
    Block,
    BlockClass,
    Head,
    NetworkPlan,
    ShortcutKind,
    ShortcutRule,
    Stage,
    Stem,
)
from resgen.plan_layers import AntiAlias, Conv, Norm
from resgen.pretrained import preprocessing
from resgen.spec import Spec, StageSpec
from resgen.stages import StageKind, stage_kind, stage_widths, stem_widths


def _anti_alias(spec: Spec) -> AntiAliasKind | None:
    return anti_alias.kind(spec.anti_alias)


def _norm(spec: Spec, torch_name: str, keras_name: str, channels: int) -> Norm:
    """A norm of the spec's kind over ``channels``, followed by the spec's activation in Keras."""
    keras_act = naming.keras_activation(spec.activation)
    return Norm(torch_name, keras_name, channels, keras_act, norm.kind(spec.norm.type))


def _bias(spec: Spec, normalized: bool) -> bool:
    return spec.conv_bias == "all" or (spec.conv_bias == "unnormalized" and not normalized)


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
        kernel=spec.projection_kernel,
    )


def _block_class(spec: Spec, kind: StageKind, mixed: bool) -> BlockClass:
    block = spec.block
    kinds = 3 if kind.kind == "bottleneck" else 2
    conv_bias = tuple(_bias(spec, not (block.preact and k == kinds - 1)) for k in range(kinds))
    act = spec.activation
    return BlockClass(
        kind=kind.kind,
        preact=block.preact,
        stride_on_first=kind.stride_on_first,
        groups=kind.groups,
        conv_bias=conv_bias,
        shortcut=_shortcut_rule(spec),
        zero_init_residual=spec.zero_init_residual,
        torch=naming.TorchBlockAttributes(act=naming.torch_activation(act)),
        keras=naming.KerasSuffixes(act=naming.keras_activation(act)),
        attention=attention.kind(block.attention),
        anti_alias=_anti_alias(spec),
        drop_path=spec.drop_path_rate > 0,
        reduce_first=block.reduce_first != 1,
        mixed=mixed,
        activation=act,
        norm=spec.norm.type,
    )


@dataclass(frozen=True)
class _Layers:
    """Convs and the norms after them, and the map size after the last."""

    convs: tuple[Conv, ...]
    norms: tuple[Norm, ...]
    out_size: int
    anti_alias: AntiAlias | None = None  # a block's pool that took its strided conv's stride


def _stem_convs(spec: Spec) -> _Layers:
    """The stem's convs in order, each with its norm but a pre-activation stem's last."""
    preact = spec.block.preact
    kind = stem_family.kind(spec.stem.type)
    widths = stem_widths(spec)
    names = naming.stem_conv_names(len(widths))
    size, channels = spec.input.size, spec.input.channels
    convs: list[Conv] = []
    norms: list[Norm] = []
    for i, width in enumerate(widths):
        normalized = not (i == len(widths) - 1 and preact)
        torch_conv, keras_conv, torch_norm, keras_norm = names[i]
        conv = Conv(
            torch_name=torch_conv,
            keras_name=keras_conv,
            in_channels=channels,
            out_channels=width,
            kernel=kind.kernel,
            stride=kind.first_stride if i == 0 else 1,
            groups=1,
            bias=_bias(spec, normalized),
            in_size=size,
        )
        convs.append(conv)
        if normalized:
            norms.append(_norm(spec, torch_norm, keras_norm, width))
        size, channels = conv.out_size, width
    return _Layers(tuple(convs), tuple(norms), size)


def _stem_pool(spec: Spec, channels: int, size: int) -> StemPool | None:
    """The stem's pool, the kind ``stem.pool`` and ``anti_alias`` pick; none for cifar's."""
    if not stem_family.kind(spec.stem.type).pool:
        return None
    at = At(
        channels=channels,
        size=size,
        anti_alias=_anti_alias(spec),
        padding=spec.stem.pool_padding,
        bias=_bias(spec, normalized=True),
        norm=functools.partial(_norm, spec),
    )
    return stem_pool.plan(spec.stem.pool, spec.anti_alias, at)


def _plan_stem(spec: Spec) -> Stem:
    convs = _stem_convs(spec)
    channels = convs.convs[-1].out_channels
    return Stem(
        kind=stem_family.kind(spec.stem.type),
        convs=convs.convs,
        norms=convs.norms,
        in_channels=spec.input.channels,
        in_size=spec.input.size,
        out_channels=channels,
        conv_out_size=convs.out_size,
        pool=_stem_pool(spec, channels, convs.out_size),
        torch_act=naming.torch_activation(spec.activation),
    )


@dataclass(frozen=True)
class _Place:
    """Where a block sits: its stage (1-based), its index there, its number in the network."""

    stage: int
    index: int
    number: int
    of: int  # blocks in the network


# A branch conv: (in channels, out channels, kernel, groups).
_ConvShape = tuple[int, int, int, int]


def _branch_shapes(
    kind: StageKind, in_channels: int, widths: tuple[int, int, int]
) -> tuple[int, list[_ConvShape]]:
    """Which branch conv takes the stride, and each conv's shape: a bottleneck's 1x1, 3x3
    (grouped) and 1x1, or a basic block's two 3x3s."""
    first_width, width, out_ch = widths
    if kind.kind == "bottleneck":
        strided = 0 if kind.stride_on_first else 1
        return strided, [
            (in_channels, first_width, 1, 1),
            (first_width, width, 3, kind.groups),
            (width, out_ch, 1, 1),
        ]
    return 0, [(in_channels, width, 3, 1), (width, out_ch, 3, 1)]


def _branch(
    spec: Spec,
    names: naming.BlockNames,
    shapes: list[_ConvShape],
    strided: int,
    stride: int,
    size: int,
    dilation_grows: bool = False,
) -> _Layers:
    """The branch's convs and norms in order (a pre-activation block's first norm leads, its
    last conv has none), and the anti-aliasing pool that takes a strided 3x3's stride (timm's
    rule: a blur pool also runs, at stride 1, where a dilated stage's dilation grows)."""
    preact = spec.block.preact
    spec_aa = _anti_alias(spec)
    at_1 = dilation_grows and spec_aa is not None and spec_aa.dilation_grows
    wanted = stride == 2 or at_1
    aa_kind = spec_aa if wanted and shapes[strided][2] == 3 else None
    convs: list[Conv] = []
    norms: list[Norm] = []
    anti_alias = None
    if preact:
        norms.append(_norm(spec, *names.preact_norm, shapes[0][0]))
    for i, (cin, cout, kernel, groups) in enumerate(shapes):
        normalized = not (preact and i == len(shapes) - 1)
        conv = Conv(
            *names.conv(i + 1),
            in_channels=cin,
            out_channels=cout,
            kernel=kernel,
            stride=stride if i == strided and aa_kind is None else 1,
            groups=groups,
            bias=_bias(spec, normalized),
            in_size=size,
        )
        convs.append(conv)
        size = conv.out_size
        if normalized:
            norms.append(_norm(spec, *names.norm(i + 1), cout))
        if i == strided and aa_kind is not None:
            anti_alias = AntiAlias(aa_kind, *names.anti_alias, cout, size, stride)
            size = anti_alias.out_size
    return _Layers(tuple(convs), tuple(norms), size, anti_alias)


def _shortcut_layers(
    spec: Spec,
    names: naming.BlockNames,
    shortcut: ShortcutKind,
    in_channels: int,
    out_ch: int,
    stride: int,
    size: int,
    dilation: int = 1,
) -> _Layers:
    """A projection shortcut's conv (after ResNet-D's pool where strided) and its norm (none in
    pre-activation blocks); no layers for the other shortcuts. A wide projection kernel
    (SENet-154's 3x3) is used where the block strides or, in a dilated stage, dilates."""
    if shortcut not in ("projection", "avg_projection"):
        return _Layers((), (), size)
    preact = spec.block.preact
    pooled = shortcut == "avg_projection" and stride > 1
    wide = (stride != 1 or dilation != 1) and not pooled
    kernel = spec.projection_kernel if wide else 1
    conv_torch, conv_keras, norm_torch, norm_keras = names.projection(
        avg=shortcut == "avg_projection"
    )
    conv = Conv(
        torch_name=conv_torch,
        keras_name=conv_keras,
        in_channels=in_channels,
        out_channels=out_ch,
        kernel=kernel,
        stride=1 if pooled else stride,
        groups=1,
        bias=_bias(spec, normalized=not preact),
        in_size=(size + 1) // 2 if pooled else size,
    )
    norms = () if preact else (_norm(spec, norm_torch, norm_keras, out_ch),)
    return _Layers((conv,), norms, conv.out_size)


def _drop_path(spec: Spec, place: _Place) -> float:
    """timm's linear rule: block i of N drops its branch with rate * i / (N - 1)."""
    if spec.drop_path_rate > 0 and place.of > 1:
        return spec.drop_path_rate * place.number / (place.of - 1)
    return 0.0


def _plan_block(
    spec: Spec,
    stage_spec: StageSpec,
    place: _Place,
    in_channels: int,
    stride: int,
    size: int,
    dilation: int = 1,
    dilation_grows: bool = False,
) -> Block:
    kind = stage_kind(spec, stage_spec)
    widths = stage_widths(spec, stage_spec)
    first_width, width, out_ch = widths
    names = block_names(place.stage, place.index)
    strided, shapes = _branch_shapes(kind, in_channels, widths)
    branch = _branch(spec, names, shapes, strided, stride, size, dilation_grows)
    shortcut = _shortcut_rule(spec).kind(in_channels, out_ch, stride)
    projection = _shortcut_layers(
        spec, names, shortcut, in_channels, out_ch, stride, size, dilation
    )
    return Block(
        stage=place.stage,
        index=place.index,
        number=place.number,
        torch_name=names.torch,
        keras_name=names.keras,
        kind=kind.kind,
        preact=spec.block.preact,
        in_channels=in_channels,
        first_width=first_width,
        width=width,
        out_channels=out_ch,
        stride=stride,
        in_size=size,
        out_size=branch.out_size,
        shortcut=shortcut,
        convs=branch.convs,
        norms=branch.norms,
        shortcut_convs=projection.convs,
        shortcut_norms=projection.norms,
        attention=attention.plan(spec.block.attention, names, out_ch, branch.out_size),
        anti_alias=branch.anti_alias,
        drop_path=_drop_path(spec, place),
    )


def _stage_dilations(spec: Spec, stem: Stem) -> list[tuple[int, int]]:
    """Each stage's applied stride and dilation at the spec's output_stride (timm's
    ``make_blocks``): once the network has reached it, a stage's stride becomes dilation."""
    reduction, dilation = stem.stride, 1
    out: list[tuple[int, int]] = []
    for stage_spec in spec.stages:
        if reduction >= spec.output_stride:
            dilation *= stage_spec.stride
            out.append((1, dilation))
        else:
            reduction *= stage_spec.stride
            out.append((stage_spec.stride, dilation))
    return out


def _plan_stages(spec: Spec, stem: Stem) -> tuple[Stage, ...]:
    """Every stage's blocks in order, each block starting where the one before it ended."""
    mixed = len({stage_kind(spec, stage).kind for stage in spec.stages}) > 1
    total = sum(stage.blocks for stage in spec.stages)
    size, channels = stem.out_size, stem.out_channels
    stages: list[Stage] = []
    number = 0
    dilations = _stage_dilations(spec, stem)
    for s, stage_spec in enumerate(spec.stages, start=1):
        strided = 0 if spec.block.stride_at == "first" else stage_spec.blocks - 1
        applied, dilation = dilations[s - 1]
        previous = dilations[s - 2][1] if s > 1 else 1
        blocks: list[Block] = []
        in_size, in_channels = size, channels
        for b in range(stage_spec.blocks):
            stride = applied if b == strided else 1
            place = _Place(s, b, number, total)
            grows = b == strided and dilation != previous
            block = _plan_block(spec, stage_spec, place, channels, stride, size, dilation, grows)
            blocks.append(block)
            size, channels = block.out_size, block.out_channels
            number += 1
        torch_name, keras_name = stage_names(s)
        stages.append(
            Stage(
                index=s,
                torch_name=torch_name,
                keras_name=keras_name,
                blocks=tuple(blocks),
                block_class=_block_class(spec, stage_kind(spec, stage_spec), mixed),
                in_channels=in_channels,
                width=blocks[0].width,
                out_channels=channels,
                stride=stage_spec.stride,
                in_size=in_size,
                out_size=size,
                dilation=dilation,
            )
        )
    return tuple(stages)


def _plan_head(spec: Spec, channels: int) -> Head:
    """A pre-activation network's final norm, the pool, dropout and classifier."""
    final_norm = None
    if spec.block.preact:
        final_norm = _norm(spec, *naming.FINAL_NORM, channels)
    return Head(
        final_norm=final_norm,
        in_features=channels,
        num_classes=spec.num_classes,
        dropout=spec.dropout,
    )


def build_plan(spec: Spec) -> NetworkPlan:
    """Derive the full plan of a validated spec (cross-field rules already checked).

    Total on any spec that passed field validation; the checks that need the derived numbers
    (group norm's divisibility, the parameter budget) run on it afterwards
    (:func:`resgen.rules.check_plan`).
    """
    stem = _plan_stem(spec)
    stages = _plan_stages(spec, stem)
    return NetworkPlan(
        name=spec.name,
        description=spec.description,
        stride_at=spec.block.stride_at,
        conv_bias=spec.conv_bias != "none",
        stem=stem,
        stages=stages,
        head=_plan_head(spec, stages[-1].out_channels),
        norm=norm.settings(spec.norm),
        activation=spec.activation,
        anti_alias=_anti_alias(spec),
        drop_path_rate=spec.drop_path_rate,
        preprocessing=preprocessing(spec.pretrained, spec.input.size, spec.input.channels),
        output_stride=spec.output_stride,
    )
