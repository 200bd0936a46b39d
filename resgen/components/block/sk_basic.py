"""The selective-kernel basic block (timm's ``SelectiveKernelBasic``, timm/models/sknet.py): a
selective-kernel conv (:mod:`resgen.components.selective_kernel`) that takes the stride, then a
3x3 ConvNormAct without its activation; the sum with the shortcut, then ReLU. skresnet18 and
skresnet34."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
    preact_field,
    reduce_first_field,
    stride_at_field,
)

ORDER = 50

# The selective-kernel kinds: a network takes one of them (their helpers are the same classes).
SK_TYPES = ("sk_basic", "sk_bottleneck")


class SkBasicBlockSpec(SpecModel):
    """A selective-kernel conv and a 3x3 conv (timm's SelectiveKernelBasic: skresnet18/34)."""

    type: Literal["sk_basic"]
    preact: bool = preact_field()
    stride_at: Literal["first", "last"] = stride_at_field()
    kernel_size: sk.KernelSize = sk.kernel_size_field()
    keep_3x3: bool = sk.keep_3x3_field()
    split_input: bool = sk.split_input_field()
    rd_ratio: float = sk.rd_ratio_field()
    rd_divisor: int = sk.rd_divisor_field()
    attention: AttentionSpec | None = attention_field()
    reduce_first: int = reduce_first_field()


Spec = SkBasicBlockSpec

HELPERS = ("ConvNormAct", "SelectiveKernelAttn", "SelectiveKernel", "selective_kernel")

KIND = BlockKind(
    type="sk_basic",
    class_name="SelectiveKernelBasic",
    template="sk_basic",
    convs=2,
    last_norm="conv2.bn",
    defines=HELPERS,
    keras_ops=True,
)


@dataclass(frozen=True)
class SelectiveKernelBranch(Branch):
    """An SK block's branch: its depth counts the main path's convs (the selective-kernel conv
    once), not each path's nor the attention's."""

    main_convs: int = 2

    @property
    def depth(self) -> int:
        return self.main_convs


@dataclass(frozen=True)
class SkBasicKnobs(sk.SelectiveKernelKnobs, Knobs):
    def phrase(self, narrower: str) -> str:
        return f"{self.conv_phrase()} and a 3x3 conv{narrower}"


def knobs(spec: Any) -> SkBasicKnobs:
    return SkBasicKnobs(**sk.knobs_of(spec))


def widths(knobs: Any, channels: int, reduce_first: int) -> tuple[int, int, int]:
    """timm: the selective-kernel conv outputs ``planes // reduce_first``, the 3x3 ``planes``."""
    width = channels // reduce_first
    return width, width, channels


def plan(context: BranchContext, knobs: Any) -> Branch:
    """The selective-kernel conv ``conv1`` (it strides), then the 3x3 ConvNormAct ``conv2``."""
    _, width, out_channels = context.widths
    layers, size = sk.selective_kernel(
        context.names,
        1,
        knobs,
        (context.in_channels, width),
        context.stride,
        context.size,
        context.norm,
    )
    conv, norm = sk.conv_norm(context.names, 2, (width, out_channels, 3), size, context.norm)
    return SelectiveKernelBranch((*layers, conv, norm), conv.out_size, main_convs=2)


def check(spec: Any) -> list[Finding]:
    """The selective-kernel rules on the spec, and the split of every SK conv's input."""
    return sk.check(spec, SK_TYPES) + check_inputs(spec, "sk_basic", 0)


def check_inputs(spec: Any, type_: str, conv: int) -> list[Finding]:
    """Each stage of kind ``type_``: its selective-kernel conv's input splits evenly among the
    paths and its groups divide it (``conv``: the branch width the conv reads, 0 for the
    block's input, 1 for the first conv's width)."""
    from resgen.components import block as registry  # the registry imports this module

    found: list[Finding] = []
    channels = spec.stem.widths[-1] if spec.stem.widths else spec.stem.channels
    for i, stage in enumerate(spec.stages):
        kind = stage.block_type or spec.block.type
        kinds = registry.knobs(spec.block, kind)
        first, width, out = registry.widths(kind, kinds, stage.channels, spec.block.reduce_first)
        if kind == type_:
            inputs = (channels, out) if conv == 0 else (first,)
            for cin in inputs[: 1 if stage.blocks == 1 else None]:
                problem = sk.check_split(kinds, cin, width, "the selective-kernel conv")
                if problem:
                    found.append((("stages", i, "channels"), problem))
                    break
        channels = out
    return found


def check_stage(spec: Any, knobs: Any, stage: Any) -> list[Finding]:
    return []


def weights(names: naming.BlockNames) -> list[tuple[str, str, str]]:
    return [*sk.weights(names, 1), *sk.conv_norm_weights(names, 2)]
