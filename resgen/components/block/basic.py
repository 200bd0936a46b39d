"""The basic block: two 3x3 convolutions (He et al. 2015; torchvision's and timm's
``BasicBlock``, and ``PreActBasicBlock`` for the pre-activation unit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

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
    preact_field,
    reduce_first_field,
    standard_branch,
    standard_weights,
    stride_at_field,
)

ORDER = 10


class BasicBlockSpec(SpecModel):
    """Two 3x3 convolutions (He et al. 2015, ResNet-18/34 and the CIFAR nets)."""

    type: Literal["basic"]
    preact: bool = preact_field()
    stride_at: Literal["first", "last"] = stride_at_field()
    groups: int = Field(1, description="Must be 1 for basic blocks.")
    width_per_group: int = Field(64, description="Must be 64 for basic blocks.")
    last_act: bool = Field(
        False,
        description="The activation after the second norm too, before attention and the sum "
        "(timm's legacy SEResNetBlock, the SE-ResNet-18/34 of senet.py).",
    )

    attention: AttentionSpec | None = attention_field()
    reduce_first: int = reduce_first_field()

    @field_validator("groups")
    @classmethod
    def _basic_groups(cls, value: int) -> int:
        if value != 1:
            raise ValueError("basic blocks have no grouped convolution; use type: bottleneck")
        return value

    @field_validator("width_per_group")
    @classmethod
    def _basic_width(cls, value: int) -> int:
        if value != 64:
            raise ValueError("basic blocks take their width from stages[].channels; use 64")
        return value


Spec = BasicBlockSpec

KIND = BlockKind(
    type="basic",
    class_name="BasicBlock",
    template="basic",
    convs=2,
    preact_class_name="PreActBasicBlock",
    preact_template="preact_basic",
    activating_norms=True,
    takes_conv_kind=True,
)


@dataclass(frozen=True)
class BasicKnobs(Knobs):
    def phrase(self, narrower: str) -> str:
        return f"two 3x3 convs{narrower}"


def knobs(spec: BasicBlockSpec) -> BasicKnobs:
    return BasicKnobs(last_act=spec.last_act)


def widths(knobs: Knobs, channels: int, reduce_first: int) -> tuple[int, int, int]:
    """The first conv outputs ``channels // reduce_first``, the second ``channels``."""
    width = channels // reduce_first
    return width, width, channels


def plan(context: BranchContext, knobs: Knobs) -> Branch:
    """Two 3x3 convs, the first taking the stride."""
    _, width, out_channels = context.widths
    return standard_branch(
        context, 0, [(context.in_channels, width, 3, 1), (width, out_channels, 3, 1)]
    )


def check(spec: Any) -> list[Finding]:
    """A pre-activation block has no norm after its second conv to follow with the activation."""
    if spec.block.last_act and spec.block.preact:
        return [(("block", "last_act"), "pre-activation blocks end in a bare conv; remove it")]
    return []


def check_stage(spec: Any, knobs: Knobs, stage: Any) -> list[Finding]:
    """A stage that asks for basic blocks under another kind's grouped or widened block."""
    block = spec.block
    if stage.block_type != "basic" or block.type == "basic":
        return []
    groups, width_per_group = getattr(block, "groups", 1), getattr(block, "width_per_group", 64)
    if groups == 1 and width_per_group == 64:
        return []
    return [
        (
            ("block_type",),
            f"a basic stage has no grouped or widened convs, but block has groups "
            f"{groups} and width_per_group {width_per_group}; set them "
            f"to 1 and 64 or make this stage a bottleneck",
        )
    ]


def weights(names: naming.BlockNames) -> list[tuple[str, str, str]]:
    return standard_weights(names, KIND.convs)
