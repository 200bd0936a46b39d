"""The per-stage facts a spec implies: each stage's block kind and widths, the stem's widths
and pool. The cross-field rules (:mod:`resgen.rules`) and the planner (:mod:`resgen.planner`)
both read them from here, so validation never runs the planner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from resgen.components import stem, stem_pool
from resgen.components.stem_pool import StemPoolKind
from resgen.spec import BottleneckBlockSpec, Spec, StageSpec


@dataclass(frozen=True)
class StageKind:
    """One stage's block kind and the knobs it takes: a bottleneck stage of a basic-block spec
    takes the bottleneck defaults, a basic stage of a bottleneck spec none of them."""

    kind: Literal["basic", "bottleneck"]
    stride_on_first: bool = False
    groups: int = 1
    width_per_group: int = 64
    expansion: int = 1


def stage_kind(spec: Spec, stage: StageSpec) -> StageKind:
    block = spec.block
    kind = stage.block_type or block.type
    if kind == "basic":
        return StageKind("basic")
    if isinstance(block, BottleneckBlockSpec):
        return StageKind(
            "bottleneck",
            block.stride_on == "1x1",
            block.groups,
            block.width_per_group,
            block.expansion,
        )
    defaults = BottleneckBlockSpec.model_fields
    return StageKind(
        "bottleneck",
        defaults["stride_on"].default == "1x1",
        defaults["groups"].default,
        defaults["width_per_group"].default,
        defaults["expansion"].default,
    )


def stage_widths(spec: Spec, stage: StageSpec) -> tuple[int, int, int]:
    """(first conv's width, inner width, output width) of a stage's blocks.

    A bottleneck's inner width is torchvision's and timm's ``int(planes * base_width / 64) *
    groups`` and its first 1x1 outputs that over ``reduce_first`` (floor); a basic block's
    first conv outputs ``channels // reduce_first`` and its second ``channels``.
    """
    kind = stage_kind(spec, stage)
    reduce_first = spec.block.reduce_first
    if kind.kind == "basic":
        width = stage.channels // reduce_first
        return width, width, stage.channels
    width = int(stage.channels * kind.width_per_group / 64) * kind.groups
    return width // reduce_first, width, stage.channels * kind.expansion


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
