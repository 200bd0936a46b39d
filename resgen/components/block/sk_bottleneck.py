"""The selective-kernel bottleneck (timm's ``SelectiveKernelBottleneck``, timm/models/sknet.py):
a 1x1 ConvNormAct, a selective-kernel conv (:mod:`resgen.components.selective_kernel`, grouped
in SK-ResNeXt) that takes the stride, a 1x1 ConvNormAct without its activation; the sum with the
shortcut, then ReLU. skresnet50, skresnet50d and skresnext50_32x4d."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from resgen.components import naming
from resgen.components import selective_kernel as sk
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
    stride_at_field,
)
from resgen.components.block.sk_basic import HELPERS, SK_TYPES, SelectiveKernelBranch, check_inputs

ORDER = 60

EXPANSION = 4  # timm's SelectiveKernelBottleneck.expansion


class SkBottleneckBlockSpec(SpecModel):
    """1x1, a selective-kernel conv, 1x1 (timm's SelectiveKernelBottleneck: skresnet50,
    skresnext50_32x4d)."""

    type: Literal["sk_bottleneck"]
    preact: bool = preact_field()
    stride_at: Literal["first", "last"] = stride_at_field()
    groups: int = Field(
        1, ge=1, le=1024, description="Groups of each path's conv (ResNeXt; timm: `cardinality`)."
    )
    width_per_group: int = Field(
        64,
        ge=1,
        le=4096,
        description="Inner width = int(channels * width_per_group / 64) * groups (timm: "
        "`base_width`).",
    )
    kernel_size: sk.KernelSize = sk.kernel_size_field()
    keep_3x3: bool = sk.keep_3x3_field()
    split_input: bool = sk.split_input_field()
    rd_ratio: float = sk.rd_ratio_field()
    rd_divisor: int = sk.rd_divisor_field()
    attention: AttentionSpec | None = attention_field()
    reduce_first: int = reduce_first_field()


Spec = SkBottleneckBlockSpec

KIND = BlockKind(
    type="sk_bottleneck",
    class_name="SelectiveKernelBottleneck",
    template="sk_bottleneck",
    convs=3,
    takes_width=True,
    takes_first_width=True,
    last_norm="conv3.bn",
    defines=HELPERS,
    keras_ops=True,
)


@dataclass(frozen=True)
class SkBottleneckKnobs(sk.SelectiveKernelKnobs, Knobs):
    width_per_group: int = 64

    def phrase(self, narrower: str) -> str:
        return f"a 1x1 conv{narrower}, {self.conv_phrase()} and a 1x1 conv"


def knobs(spec: Any) -> SkBottleneckKnobs:
    return SkBottleneckKnobs(**sk.knobs_of(spec, spec.groups), width_per_group=spec.width_per_group)


def widths(knobs: Any, channels: int, reduce_first: int) -> tuple[int, int, int]:
    """timm's ``int(floor(planes * base_width / 64) * cardinality)``; the first 1x1 outputs that
    over ``reduce_first``, the selective-kernel conv the width, the last 1x1 ``planes * 4``."""
    width = int(channels * knobs.width_per_group / 64) * knobs.groups
    return width // reduce_first, width, channels * EXPANSION


def plan(context: BranchContext, knobs: Any) -> Branch:
    """The 1x1 ConvNormAct ``conv1``, the selective-kernel conv ``conv2`` (it strides), the 1x1
    ConvNormAct ``conv3``."""
    first_width, width, out_channels = context.widths
    names, norm = context.names, context.norm
    conv1, norm1 = sk.conv_norm(names, 1, (context.in_channels, first_width, 1), context.size, norm)
    layers, size = sk.selective_kernel(
        names, 2, knobs, (first_width, width), context.stride, context.size, norm
    )
    conv3, norm3 = sk.conv_norm(names, 3, (width, out_channels, 1), size, norm)
    return SelectiveKernelBranch((conv1, norm1, *layers, conv3, norm3), size, main_convs=3)


def check(spec: Any) -> list[Finding]:
    """The selective-kernel rules on the spec, and the split of every SK conv's input."""
    return sk.check(spec, SK_TYPES) + check_inputs(spec, "sk_bottleneck", 1)


def check_stage(spec: Any, knobs: Any, stage: Any) -> list[Finding]:
    """The inner width keeps at least one channel per group."""
    return check_per_group_width(stage.channels, knobs.width_per_group)


def weights(names: naming.BlockNames) -> list[tuple[str, str, str]]:
    return [
        *sk.conv_norm_weights(names, 1),
        *sk.weights(names, 2),
        *sk.conv_norm_weights(names, 3),
    ]
