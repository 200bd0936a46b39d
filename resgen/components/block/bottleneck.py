"""The bottleneck block: 1x1 reduce, 3x3 (grouped in ResNeXt), 1x1 expand (torchvision's and
timm's ``Bottleneck``, and ``PreActBottleneck`` for the pre-activation unit)."""

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
    check_per_group_width,
    preact_field,
    reduce_first_field,
    standard_branch,
    standard_weights,
    stride_at_field,
)

ORDER = 20


class BottleneckBlockSpec(SpecModel):
    """1x1 reduce, 3x3, 1x1 expand (ResNet-50 and deeper, ResNeXt, Wide ResNet)."""

    type: Literal["bottleneck"]
    preact: bool = preact_field()
    stride_at: Literal["first", "last"] = stride_at_field()
    stride_on: Literal["3x3", "1x1"] = Field(
        "3x3",
        description="Where a strided bottleneck downsamples: 3x3 (v1.5, torchvision) or 1x1 "
        "(the original paper, keras.applications ResNet50).",
    )
    groups: int = Field(1, ge=1, le=1024, description="Groups of the 3x3 conv (ResNeXt).")
    width_per_group: int = Field(
        64,
        ge=1,
        le=4096,
        description="Inner width = int(channels * width_per_group / 64) * groups (torchvision).",
    )
    expansion: int = Field(4, ge=1, le=16, description="Output channels = channels * expansion.")
    attention: AttentionSpec | None = attention_field()
    reduce_first: int = reduce_first_field()


Spec = BottleneckBlockSpec

KIND = BlockKind(
    type="bottleneck",
    class_name="Bottleneck",
    template="bottleneck",
    convs=3,
    preact_class_name="PreActBottleneck",
    preact_template="preact_bottleneck",
    takes_width=True,
    takes_first_width=True,
    activating_norms=True,
    takes_conv_kind=True,
)


@dataclass(frozen=True)
class BottleneckKnobs(Knobs):
    width_per_group: int = 64
    expansion: int = 4

    def phrase(self, narrower: str) -> str:
        conv = "first 1x1" if self.stride_on_first else "3x3"
        grouped = f", the 3x3 in {self.groups} groups" if self.groups > 1 else ""
        return f"1x1, 3x3 and 1x1 convs (stride on the {conv}{grouped}{narrower})"


def knobs(spec: BottleneckBlockSpec) -> BottleneckKnobs:
    return BottleneckKnobs(
        groups=spec.groups,
        stride_on_first=spec.stride_on == "1x1",
        width_per_group=spec.width_per_group,
        expansion=spec.expansion,
    )


def widths(knobs: Any, channels: int, reduce_first: int) -> tuple[int, int, int]:
    """torchvision's and timm's inner width ``int(planes * base_width / 64) * groups``; the
    first 1x1 outputs that over ``reduce_first`` (floor), the last ``channels * expansion``."""
    width = int(channels * knobs.width_per_group / 64) * knobs.groups
    return width // reduce_first, width, channels * knobs.expansion


def plan(context: BranchContext, knobs: Knobs) -> Branch:
    """A 1x1, a 3x3 (grouped) and a 1x1; the first 1x1 (v1) or the 3x3 (v1.5) strides."""
    first_width, width, out_channels = context.widths
    return standard_branch(
        context,
        0 if knobs.stride_on_first else 1,
        [
            (context.in_channels, first_width, 1, 1),
            (first_width, width, 3, knobs.groups),
            (width, out_channels, 1, 1),
        ],
    )


def check(spec: Any) -> list[Finding]:
    return []


def check_stage(spec: Any, knobs: Any, stage: Any) -> list[Finding]:
    """The inner width keeps at least one channel per group."""
    return check_per_group_width(stage.channels, knobs.width_per_group)


def weights(names: naming.BlockNames) -> list[tuple[str, str, str]]:
    return standard_weights(names, KIND.convs)
