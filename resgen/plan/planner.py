"""From a spec to its plan: :func:`build_plan` derives every number, name and decision of a
:class:`~resgen.plan.network.NetworkPlan` once, from the per-stage facts of
:mod:`resgen.plan.stages` (which the cross-field checks in :mod:`resgen.check.rules` read too) and
the component families.

The plan's types live in :mod:`resgen.plan.network`; the layers they hold in
:mod:`resgen.components.layers`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from resgen.components import anti_alias, attention, block, naming, norm, shortcut, stem_pool
from resgen.components import conv as conv_family
from resgen.components import stem as stem_family
from resgen.components.anti_alias import AntiAliasKind
from resgen.components.block import BranchContext
from resgen.components.layers import Conv, Norm
from resgen.components.stem_pool import At, StemPool
from resgen.plan.network import (
    Block,
    BlockClass,
    Head,
    NetworkPlan,
    ShortcutKind,
    ShortcutRule,
    Stage,
    Stem,
)
from resgen.plan.stages import (
    StageKind,
    regnet_stages,
    spec_stages,
    stage_kind,
    stage_widths,
    stem_widths,
)
from resgen.spec.models import Spec, StageSpec
from resgen.spec.pretrained import preprocessing


def _anti_alias(spec: Spec) -> AntiAliasKind | None:
    return anti_alias.kind(spec.anti_alias)


def _norm(spec: Spec, torch_name: str, keras_name: str, channels: int) -> Norm:
    """A norm of the spec's kind over ``channels``, followed by the spec's activation in Keras
    (the stem, the stem pool, the head and the block and shortcut families build theirs
    through this)."""
    keras_act = naming.keras_activation(spec.activation)
    return Norm(torch_name, keras_name, channels, keras_act, norm.kind(spec.norm.type))


def _bias(spec: Spec, normalized: bool) -> bool:
    return spec.conv_bias == "all" or (spec.conv_bias == "unnormalized" and not normalized)


def _shortcut_rule(spec: Spec) -> ShortcutRule:
    policy = spec.shortcut
    preact = spec.block.preact
    zero_pad = policy == "zero_pad"
    return ShortcutRule(
        policy=policy,
        rule=shortcut.select(policy, spec.stride_shortcut),
        zero_pad=zero_pad,
        pool=policy == "avg_projection",
        bias=_bias(spec, normalized=not preact),
        norm=not preact,
        source="preact" if preact and not zero_pad else "x",
        kernel=spec.projection_kernel,
        pool_dilation=block.kind(spec.block.type).shortcut_pool_dilation,
    )


def _block_class(spec: Spec, kind: StageKind, mixed: bool) -> BlockClass:
    block = spec.block
    convs = kind.kind.convs
    conv_bias = tuple(_bias(spec, not (block.preact and k == convs - 1)) for k in range(convs))
    act = spec.activation
    return BlockClass(
        kind=kind.kind,
        knobs=kind.knobs,
        preact=block.preact,
        conv_bias=conv_bias,
        shortcut=_shortcut_rule(spec),
        zero_init_residual=spec.zero_init_residual,
        torch=dataclasses.replace(
            naming.dialect(spec.naming).block_attributes, act=naming.torch_activation(act)
        ),
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


def _stem_convs(spec: Spec) -> _Layers:
    """The stem's convs in order, each with its norm but a pre-activation stem's last."""
    preact = spec.block.preact
    kind = stem_family.kind(spec.stem.type)
    widths = stem_widths(spec)
    names = naming.dialect(spec.naming).stem_names(len(widths), normed=not preact)
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
    pool = stem_pool.plan(spec.stem.pool, spec.anti_alias, at)
    dialect = naming.dialect(spec.naming)
    return dataclasses.replace(pool, torch_name=dialect.stem_pool, torch_pad=dialect.stem_pool_pad)


def _plan_stem(spec: Spec) -> Stem:
    convs = _stem_convs(spec)
    channels = convs.convs[-1].out_channels
    dialect = naming.dialect(spec.naming)
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
        torch_container=dialect.stem_container(len(convs.convs), normed=bool(convs.norms)),
        torch_acts=dialect.stem_acts(len(convs.convs), spec.activation),
    )


@dataclass(frozen=True)
class _Place:
    """Where a block sits: its stage (1-based), its index there, its number in the network."""

    stage: int
    index: int
    number: int
    of: int  # blocks in the network


def _branch_context(
    spec: Spec,
    names: naming.BlockNames,
    in_channels: int,
    widths: tuple[int, int, int],
    stride: int,
    size: int,
    shortcut: ShortcutKind,
    dilation_grows: bool = False,
) -> BranchContext:
    """What a block kind plans its branch from; the anti-aliasing pool is wanted where the
    block strides or, by timm's rule, where a dilated stage's dilation grows under a kind
    that runs there (:attr:`AntiAliasKind.dilation_grows`: blur)."""
    aa_kind = _anti_alias(spec)
    wanted = stride == 2 or (dilation_grows and aa_kind is not None and aa_kind.dilation_grows)
    return BranchContext(
        names=names,
        in_channels=in_channels,
        widths=widths,
        stride=stride,
        size=size,
        preact=spec.block.preact,
        keras_act=naming.keras_activation(spec.activation),
        conv_bias=spec.conv_bias,
        make_norm=functools.partial(_norm, spec),
        anti_alias=aa_kind if wanted else None,
        shortcut=shortcut,
    )


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
    names = naming.dialect(spec.naming).block_names(place.stage, place.index)
    rule = _shortcut_rule(spec)
    on_block = rule.kind(in_channels, out_ch, stride)
    context = _branch_context(
        spec, names, in_channels, widths, stride, size, on_block, dilation_grows
    )
    branch = block.plan(kind.type, context, kind.knobs)
    make_norm = functools.partial(_norm, spec)
    projection = shortcut.plan(
        rule, names, on_block, in_channels, out_ch, stride, size, dilation, make_norm
    )
    return Block(
        stage=place.stage,
        index=place.index,
        number=place.number,
        torch_name=names.torch,
        keras_name=names.keras,
        kind=kind.type,
        preact=spec.block.preact,
        in_channels=in_channels,
        first_width=first_width,
        width=width,
        out_channels=out_ch,
        stride=stride,
        in_size=size,
        out_size=branch.out_size,
        shortcut=on_block,
        branch=branch,
        shortcut_convs=projection.convs,
        shortcut_norms=projection.norms,
        attention=attention.plan(spec.block.attention, names, out_ch, branch.out_size),
        drop_path=_drop_path(spec, place),
    )


def _stage_dilations(spec: Spec, stem: Stem) -> list[tuple[int, int]]:
    """Each stage's applied stride and dilation at the spec's output_stride (timm's
    ``make_blocks``): once the network has reached it, a stage's stride becomes dilation."""
    reduction, dilation = stem.stride, 1
    out: list[tuple[int, int]] = []
    for stage_spec in spec_stages(spec):
        if reduction >= spec.output_stride:
            dilation *= stage_spec.stride
            out.append((1, dilation))
        else:
            reduction *= stage_spec.stride
            out.append((stage_spec.stride, dilation))
    return out


def _plan_stages(spec: Spec, stem: Stem) -> tuple[Stage, ...]:
    """Every stage's blocks in order, each block starting where the one before it ended."""
    mixed = len({stage_kind(spec, stage).type for stage in spec_stages(spec)}) > 1
    total = sum(stage.blocks for stage in spec_stages(spec))
    size, channels = stem.out_size, stem.out_channels
    stages: list[Stage] = []
    number = 0
    dilations = _stage_dilations(spec, stem)
    for s, stage_spec in enumerate(spec_stages(spec), start=1):
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
        torch_name, keras_name = naming.dialect(spec.naming).stage_names(s)
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


def _plan_head(spec: Spec, channels: int, size: int) -> Head:
    """A pre-activation network's final norm (or, where its block kind says so, its final
    activation alone), the final conv or activation a spec asks for, the pool, dropout and
    classifier."""
    dialect = naming.dialect(spec.naming)
    final_norm = None
    preact_head = block.kind(spec.block.type).preact_head
    if spec.block.preact and preact_head == "norm":
        final_norm = _norm(spec, dialect.final_norm, naming.FINAL_NORM[1], channels)
    final_conv, final_conv_norm = _final_conv(spec, channels, size)
    return Head(
        final_norm=final_norm,
        final_act=spec.final_act or (spec.block.preact and preact_head == "act"),
        keras_final_act="post" + naming.keras_activation(spec.activation),
        in_features=spec.final_conv or channels,
        num_classes=spec.num_classes,
        dropout=spec.dropout,
        torch_name=dialect.classifier,
        torch_pool=dialect.global_pool,
        conv=dialect.classifier_conv,
        final_conv=final_conv,
        final_conv_norm=final_conv_norm,
    )


def _final_conv(spec: Spec, channels: int, size: int) -> tuple[Conv | None, Norm | None]:
    """timm regnet.py's ``final_conv``: a 1x1 conv from the last stage's ``channels`` to
    ``spec.final_conv``, and its norm (the activation follows it); none where it is 0."""
    if not spec.final_conv:
        return None, None
    (conv_torch, conv_keras), (norm_torch, norm_keras) = naming.final_conv_names()
    conv = Conv(
        torch_name=conv_torch,
        keras_name=conv_keras,
        in_channels=channels,
        out_channels=spec.final_conv,
        kernel=1,
        stride=1,
        groups=1,
        bias=_bias(spec, normalized=True),
        in_size=size,
    )
    norm = _norm(spec, norm_torch, norm_keras, spec.final_conv)
    return conv, norm


def build_plan(spec: Spec) -> NetworkPlan:
    """Derive the full plan of a validated spec (cross-field rules already checked).

    Total on any spec that passed field validation; the checks that need the derived numbers
    (group norm's divisibility, the parameter budget) run on it afterwards
    (:func:`resgen.check.rules.check_plan`).
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
        head=_plan_head(spec, stages[-1].out_channels, stages[-1].out_size),
        norm=norm.settings(spec.norm),
        conv=conv_family.settings(spec.conv),
        activation=spec.activation,
        anti_alias=_anti_alias(spec),
        drop_path_rate=spec.drop_path_rate,
        preprocessing=preprocessing(spec.pretrained, spec.input.size, spec.input.channels),
        output_stride=spec.output_stride,
        derivation=_derivation(spec),
        block_child=naming.dialect(spec.naming).block_child(),
        dialect=naming.dialect(spec.naming),
    )


def _derivation(spec: Spec) -> str:
    """RegNet's numbers and the stages they generate, as ``resgen summary`` prints them."""
    rule = spec.regnet
    if rule is None:
        return ""
    block_spec = spec.block
    stages = regnet_stages(rule, block_spec.group_width, block_spec.bottle_ratio)
    numbers = f"depth {rule.depth}, w0 {rule.w0}, wa {rule.wa:g}, wm {rule.wm:g}"
    widths = ", ".join(str(stage.width) for stage in stages)
    depths = ", ".join(str(stage.depth) for stage in stages)
    groups = ", ".join(str(stage.group_width) for stage in stages)
    return (
        f"RegNet rule: {numbers}, group width {block_spec.group_width}, bottleneck ratio "
        f"{block_spec.bottle_ratio:g} -> widths {widths}; depths {depths}; group widths {groups}"
    )
