"""The per-stage facts a spec implies: each stage's block kind and widths, the stem's widths
and pool. The cross-field rules (:mod:`resgen.check.rules`) and the planner
(:mod:`resgen.plan.planner`) both read them from here, so validation never runs the planner.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from resgen.components import block, stem, stem_pool
from resgen.components import regnet_rule as regnet
from resgen.components.block import BlockKind, Knobs
from resgen.components.stem_pool import StemPoolKind
from resgen.spec.models import RegNetSpec, Spec, StageSpec


@dataclass(frozen=True)
class StageKind:
    """One stage's block kind and the knobs it takes: a stage of another kind than the spec's
    block takes that kind's defaults (a bottleneck stage of a basic-block spec)."""

    kind: BlockKind
    knobs: Knobs

    @property
    def type(self) -> str:
        return self.kind.type


def spec_stages(spec: Spec) -> tuple[StageSpec, ...]:
    """The spec's stages: as listed, or as its ``regnet`` section generates them."""
    if spec.regnet is None:
        return tuple(spec.stages)
    block_spec = spec.block
    group_width = getattr(block_spec, "group_width", 1)  # the rules ask for a regnet block
    return _generated(spec.regnet, group_width, getattr(block_spec, "bottle_ratio", 1.0))


@cache
def _generated(rule: RegNetSpec, group_width: int, bottle_ratio: float) -> tuple[StageSpec, ...]:
    """RegNet's stages (:mod:`resgen.components.regnet_rule`), each striding 2."""
    return tuple(
        StageSpec.model_construct(blocks=stage.depth, channels=stage.width, stride=2)
        for stage in regnet_stages(rule, group_width, bottle_ratio)
    )


def regnet_stages(
    rule: RegNetSpec, group_width: int, bottle_ratio: float
) -> tuple[regnet.RegNetStage, ...]:
    """The stages RegNet's rule generates from a spec's numbers."""
    return regnet.stages(
        rule.depth,
        rule.w0,
        rule.wa,
        rule.wm,
        group_width,
        bottle_ratio,
        rule.quant,
        rule.rounding,
    )


def stage_kind(spec: Spec, stage: StageSpec) -> StageKind:
    type_ = stage.block_type or spec.block.type
    return StageKind(block.kind(type_), block.knobs(spec.block, type_))


def stage_widths(
    spec: Spec, stage: StageSpec, reduce_first: int | None = None
) -> tuple[int, int, int]:
    """(first conv's width, inner width, output width) of a stage's blocks, as its kind
    derives them (a bottleneck's inner width is torchvision's and timm's ``int(planes *
    base_width / 64) * groups``); ``reduce_first`` defaults to the spec's."""
    kind = stage_kind(spec, stage)
    divisor = spec.block.reduce_first if reduce_first is None else reduce_first
    return block.widths(kind.type, kind.knobs, stage.channels, divisor)


def stem_widths(spec: Spec) -> tuple[int, ...]:
    """The output width of each stem conv: a deep stem's three (``stem.widths``, else
    channels/2, channels/2, channels), the other stems' one."""
    return stem.widths(spec.stem)


def stem_pool_kind(spec: Spec) -> StemPoolKind | None:
    """The kind of the stem's pool ``stem.pool`` and ``anti_alias`` pick; None for a stem
    without one (cifar's)."""
    if not stem.kind(spec.stem.type).pool:
        return None
    return stem_pool.kind(spec.stem.pool, spec.anti_alias)
