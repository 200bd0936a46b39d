"""Cross-field rules: what pydantic's per-field checks cannot see.

Each rule returns ``(field path, message)`` pairs so the caller can point at the exact line.
Messages say what to change, not only what is wrong.
"""

from __future__ import annotations

from resgen.plan import build_plan, conv_out, out_channels
from resgen.spec import BottleneckBlockSpec, Spec

FieldPath = tuple[str | int, ...]

# A spec beyond these is refused before anything is allocated: 2 billion parameters is 8 GB of
# float32 weights; 10 TMACs is roughly 400 ResNet-152s on one 224x224 image.
MAX_PARAMS = 2_000_000_000
MAX_MACS = 10_000_000_000_000

# Building a model costs time and memory per block whatever its width. Measured on this project's
# 2-core CPU for 2,000 bottleneck blocks of width 8: Keras 3 takes about 2 CPU-minutes and 2.1 GB,
# PyTorch under 4 CPU-seconds and 0.3 GB (issue 14: a 16,000-block spec took Keras over 5 minutes
# and 9 GB).
# The deepest shipped spec, ResNet-1202, has 600 blocks; timm's deepest, resnetrs420, 139.
MAX_BLOCKS = 2_000


def check(spec: Spec) -> list[tuple[FieldPath, str]]:
    """Every cross-field problem of a spec that passed field validation."""
    problems = _check_blocks(spec) + _check_widths(spec) + _check_stem(spec)
    problems += _check_shortcut(spec) + _check_sizes(spec)
    if not problems:
        problems += _check_budget(spec)
    return problems


def _check_blocks(spec: Spec) -> list[tuple[FieldPath, str]]:
    total = sum(stage.blocks for stage in spec.stages)
    if total <= MAX_BLOCKS:
        return []
    return [
        (
            ("stages",),
            f"{total:,} blocks in all exceed resgen's bound of {MAX_BLOCKS:,} "
            "(ResNet-1202 has 600)",
        )
    ]


def _check_widths(spec: Spec) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
    block = spec.block
    if isinstance(block, BottleneckBlockSpec):
        for i, stage in enumerate(spec.stages):
            per_group = int(stage.channels * block.width_per_group / 64)
            if per_group < 1:
                problems.append(
                    (
                        ("stages", i, "channels"),
                        f"inner width int({stage.channels} * {block.width_per_group} / 64) is 0 "
                        f"per group; raise channels or block.width_per_group",
                    )
                )
    return problems


def _check_stem(spec: Spec) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
    if spec.stem.type == "deep" and spec.stem.channels % 2:
        problems.append(
            (
                ("stem", "channels"),
                f"a deep stem halves its width in the first two convs; use an even number, "
                f"not {spec.stem.channels}",
            )
        )
    if spec.stem.type == "cifar" and spec.stem.pool_padding != "ignore":
        problems.append(
            (("stem", "pool_padding"), "the cifar stem has no max pool; remove pool_padding")
        )
    return problems


def _check_shortcut(spec: Spec) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
    if spec.stride_shortcut == "subsample" and spec.shortcut not in (
        "projection",
        "avg_projection",
    ):
        problems.append(
            (
                ("stride_shortcut",),
                f"subsample only refines projection shortcuts; shortcut is {spec.shortcut}",
            )
        )
    if spec.zero_init_residual and spec.block.preact:
        problems.append(
            (
                ("zero_init_residual",),
                "pre-activation branches end in a conv, not a norm; set it to false",
            )
        )
    if spec.zero_init_residual and spec.shortcut == "none":
        problems.append(
            (
                ("zero_init_residual",),
                "without shortcuts a zeroed branch blocks the signal; set it to false",
            )
        )
    if spec.shortcut == "zero_pad":
        channels = spec.stem.channels
        for i, stage in enumerate(spec.stages):
            out = out_channels(spec, stage.channels)
            if out < channels:
                problems.append(
                    (
                        ("stages", i, "channels"),
                        f"zero_pad shortcuts can only add channels, but this stage goes from "
                        f"{channels} to {out}; widen it or use shortcut: projection",
                    )
                )
            channels = out
    return problems


def _check_sizes(spec: Spec) -> list[tuple[FieldPath, str]]:
    """Every stride-2 layer needs at least a 2x2 input."""
    size = spec.input.size
    needed = _smallest_input(_downsamplings(spec))
    hint = f"input.size {size} is too small for this network (needs at least {needed})"
    strides = [2] if spec.stem.type in ("imagenet", "deep") else []
    strides += [2] if spec.stem.type != "cifar" else []
    for _ in strides:
        if size < 2:
            return [(("input", "size"), f"the stem's downsampling sees a 1x1 map; {hint}")]
        size = conv_out(size, 3, 2, 1)
    for i, stage in enumerate(spec.stages):
        if stage.stride == 2:
            if size < 2:
                return [
                    (
                        ("stages", i, "stride"),
                        f"stage {i + 1} would downsample a 1x1 feature map; {hint}",
                    )
                ]
            size = conv_out(size, 3, 2, 1)
    return []


def _downsamplings(spec: Spec) -> int:
    stem = 2 if spec.stem.type != "cifar" else 0
    return stem + sum(1 for stage in spec.stages if stage.stride == 2)


def _smallest_input(downsamplings: int) -> int:
    """The least size each of ``downsamplings`` halvings (rounding up) sees at 2x2 or more."""
    size = 1
    for _ in range(downsamplings):
        size = max(2, 2 * size - 1)
    return size


def _check_budget(spec: Spec) -> list[tuple[FieldPath, str]]:
    plan = build_plan(spec)
    problems: list[tuple[FieldPath, str]] = []
    if plan.params > MAX_PARAMS:
        problems.append(
            (("stages",), f"{plan.params:,} parameters exceed resgen's bound of {MAX_PARAMS:,}")
        )
    if plan.macs > MAX_MACS:
        problems.append(
            (("stages",), f"{plan.macs:,} MACs per image exceed resgen's bound of {MAX_MACS:,}")
        )
    return problems
