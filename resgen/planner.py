"""From a spec to its plan: :func:`build_plan` derives every number, name and decision of a
:class:`~resgen.plan.NetworkPlan` once, from the per-stage facts of :mod:`resgen.stages` (which
the cross-field checks in :mod:`resgen.rules` read too) and the component families.

The plan's types live in :mod:`resgen.plan`; the layers they hold in :mod:`resgen.plan_layers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from resgen import naming
from resgen.components import attention
from resgen.naming import block_names, stage_names, stem_names, stem_pool_names
from resgen.plan import (
    Block,
    BlockClass,
    Head,
    NetworkPlan,
    ShortcutRule,
    Stage,
    Stem,
)
from resgen.plan_layers import AntiAlias, AntiAliasKind, Conv, Norm, conv_out
from resgen.spec import Spec, StageSpec
from resgen.stages import StageKind, stage_kind, stage_widths, stem_pool_kind, stem_widths


def _anti_alias(spec: Spec) -> AntiAliasKind | None:
    return None if spec.anti_alias == "none" else spec.anti_alias


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


def _plan_stem(spec: Spec) -> Stem:
    preact = spec.block.preact
    keras_act = naming.keras_activation(spec.activation)
    names = stem_names(spec.stem.type)
    size, channels = spec.input.size, spec.input.channels
    kernel, first_stride = {"deep": (3, 2), "imagenet": (7, 2), "cifar": (3, 1)}[spec.stem.type]
    widths = stem_widths(spec)
    convs: list[Conv] = []
    norms: list[Norm] = []
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        normalized = not (last and preact)
        torch_conv, keras_conv, torch_norm, keras_norm = names[i]
        conv = Conv(
            torch_name=torch_conv,
            keras_name=keras_conv,
            in_channels=channels,
            out_channels=width,
            kernel=kernel,
            stride=first_stride if i == 0 else 1,
            groups=1,
            bias=_bias(spec, normalized),
            in_size=size,
        )
        convs.append(conv)
        if normalized:
            norms.append(Norm(torch_norm, keras_norm, width, keras_act))
        size, channels = conv.out_size, width
    conv_out_size = size
    pool_kind = stem_pool_kind(spec)
    aa_kind = _anti_alias(spec)
    pool_names = None if pool_kind is None else stem_pool_names(pool_kind, aa_kind is not None)
    pool_conv = pool_norm = pool_aa = None
    if pool_kind == "conv" and pool_names is not None:
        pool_conv = Conv(
            *pool_names.conv,
            in_channels=channels,
            out_channels=channels,
            kernel=3,
            stride=1 if aa_kind else 2,
            groups=1,
            bias=_bias(spec, normalized=True),
            in_size=size,
        )
        size = pool_conv.out_size
        if aa_kind:
            pool_aa = AntiAlias(aa_kind, *pool_names.anti_alias, channels, size)
            size = pool_aa.out_size
        pool_norm = Norm(*pool_names.norm, channels, keras_act)
    elif pool_kind in ("avg", "blur") and pool_names is not None:
        pool_kind_aa: AntiAliasKind = "avg" if pool_kind == "avg" else "blur"
        aa_names = pool_names.pool if pool_kind == "avg" else pool_names.anti_alias
        pool_aa = AntiAlias(pool_kind_aa, *aa_names, channels, size)
        size = pool_aa.out_size
    elif pool_kind == "max":
        size = conv_out(size, 3, 2, 1)
    return Stem(
        kind=spec.stem.type,
        convs=tuple(convs),
        norms=tuple(norms),
        pool=pool_kind is not None,
        pool_padding=spec.stem.pool_padding,
        in_channels=spec.input.channels,
        in_size=spec.input.size,
        out_channels=channels,
        conv_out_size=conv_out_size,
        out_size=size,
        pool_kind=pool_kind,
        pool_conv=pool_conv,
        pool_norm=pool_norm,
        pool_aa=pool_aa,
        torch_act=naming.torch_activation(spec.activation),
    )


@dataclass(frozen=True)
class _Place:
    """Where a block sits: its stage (1-based), its index there, its number in the network."""

    stage: int
    index: int
    number: int
    of: int  # blocks in the network


def _plan_block(
    spec: Spec,
    stage_spec: StageSpec,
    place: _Place,
    in_channels: int,
    stride: int,
    size: int,
) -> Block:
    preact = spec.block.preact
    kind = stage_kind(spec, stage_spec)
    first_width, width, out_ch = stage_widths(spec, stage_spec)
    names = block_names(place.stage, place.index)
    keras_act = naming.keras_activation(spec.activation)
    if kind.kind == "bottleneck":
        strided = 0 if kind.stride_on_first else 1
        layout = [
            (in_channels, first_width, 1, 1),
            (first_width, width, 3, kind.groups),
            (width, out_ch, 1, 1),
        ]
    else:
        strided = 0
        layout = [(in_channels, width, 3, 1), (width, out_ch, 3, 1)]
    aa_kind = _anti_alias(spec) if stride == 2 and layout[strided][2] == 3 else None
    convs: list[Conv] = []
    norms: list[Norm] = []
    anti_alias = None
    if preact:
        norms.append(Norm(*names.preact_norm, in_channels, keras_act))
    conv_size = size
    for i, (cin, cout, kernel, groups) in enumerate(layout):
        last = i == len(layout) - 1
        normalized = not (preact and last)
        conv = Conv(
            torch_name=names.conv(i + 1)[0],
            keras_name=names.conv(i + 1)[1],
            in_channels=cin,
            out_channels=cout,
            kernel=kernel,
            stride=stride if i == strided and aa_kind is None else 1,
            groups=groups,
            bias=_bias(spec, normalized),
            in_size=conv_size,
        )
        convs.append(conv)
        conv_size = conv.out_size
        if normalized:
            norms.append(Norm(*names.norm(i + 1), cout, keras_act))
        if i == strided and aa_kind is not None:
            anti_alias = AntiAlias(aa_kind, *names.anti_alias, cout, conv_size)
            conv_size = anti_alias.out_size

    shortcut = _shortcut_rule(spec).kind(in_channels, out_ch, stride)
    shortcut_convs: tuple[Conv, ...] = ()
    shortcut_norms: tuple[Norm, ...] = ()
    if shortcut in ("projection", "avg_projection"):
        pooled = shortcut == "avg_projection" and stride > 1
        kernel = spec.projection_kernel if stride != 1 and not pooled else 1
        conv_torch, conv_keras, norm_torch, norm_keras = names.projection(
            avg=shortcut == "avg_projection"
        )
        shortcut_convs = (
            Conv(
                torch_name=conv_torch,
                keras_name=conv_keras,
                in_channels=in_channels,
                out_channels=out_ch,
                kernel=kernel,
                stride=1 if pooled else stride,
                groups=1,
                bias=_bias(spec, normalized=not preact),
                in_size=(size + 1) // 2 if pooled else size,
            ),
        )
        if not preact:
            shortcut_norms = (Norm(norm_torch, norm_keras, out_ch, keras_act),)
    drop_path = 0.0
    if spec.drop_path_rate > 0 and place.of > 1:  # timm's linear rule
        drop_path = spec.drop_path_rate * place.number / (place.of - 1)
    return Block(
        stage=place.stage,
        index=place.index,
        number=place.number,
        torch_name=names.torch,
        keras_name=names.keras,
        kind=kind.kind,
        preact=preact,
        in_channels=in_channels,
        first_width=first_width,
        width=width,
        out_channels=out_ch,
        stride=stride,
        in_size=size,
        out_size=conv_size,
        shortcut=shortcut,
        convs=tuple(convs),
        norms=tuple(norms),
        shortcut_convs=shortcut_convs,
        shortcut_norms=shortcut_norms,
        attention=attention.plan(spec.block.attention, names, out_ch, conv_size),
        anti_alias=anti_alias,
        drop_path=drop_path,
    )


def build_plan(spec: Spec) -> NetworkPlan:
    """Derive the full plan of a validated spec (cross-field rules already checked).

    Total on any spec that passed field validation: rules may build it to check what needs
    the derived numbers (group norm's divisibility, the parameter budget).
    """
    stem = _plan_stem(spec)
    mixed = len({stage_kind(spec, stage).kind for stage in spec.stages}) > 1
    total = sum(stage.blocks for stage in spec.stages)
    size, channels = stem.out_size, stem.out_channels
    stages: list[Stage] = []
    number = 0
    for s, stage_spec in enumerate(spec.stages, start=1):
        strided = 0 if spec.block.stride_at == "first" else stage_spec.blocks - 1
        blocks: list[Block] = []
        in_size, in_channels = size, channels
        for b in range(stage_spec.blocks):
            stride = stage_spec.stride if b == strided else 1
            place = _Place(s, b, number, total)
            block = _plan_block(spec, stage_spec, place, channels, stride, size)
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
            )
        )
    final_norm = None
    if spec.block.preact:
        keras_act = naming.keras_activation(spec.activation)
        final_norm = Norm(naming.FINAL_NORM[0], naming.FINAL_NORM[1], channels, keras_act)
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
        norm_kind=spec.norm.type,
        norm_groups=spec.norm.groups,
        activation=spec.activation,
        anti_alias=_anti_alias(spec),
        drop_path_rate=spec.drop_path_rate,
    )
