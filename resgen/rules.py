"""Cross-field rules: what pydantic's per-field checks cannot see.

Each rule returns ``(field path, message)`` pairs so the caller can point at the exact line.
Messages say what to change, not only what is wrong.
"""

from __future__ import annotations

from resgen import pretrained
from resgen.components import attention, shortcut
from resgen.components import block as block_kinds
from resgen.plan import NetworkPlan, Rounding, smallest_input
from resgen.plan_layers import anti_alias_out, conv_out
from resgen.spec import Spec
from resgen.stages import stage_kind, stage_widths, stem_pool_kind, stem_widths

FieldPath = tuple[str | int, ...]
Problems = list[tuple[FieldPath, str]]

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


def check(spec: Spec) -> Problems:
    """Every cross-field problem of a spec that passed field validation and that the spec alone
    shows. Only a spec without any may be planned; :func:`check_plan` then checks the plan."""
    problems = _check_blocks(spec) + _check_widths(spec) + _check_stem(spec)
    problems += _check_shortcut(spec) + _check_sizes(spec) + _check_block_knobs(spec)
    problems += _check_norm(spec) + _check_drop_path(spec) + _check_anti_alias(spec)
    problems += pretrained.check(spec.pretrained, spec.input.channels)
    return problems


def check_plan(spec: Spec, plan: NetworkPlan) -> Problems:
    """The problems only the plan shows (group norm's divisibility, even maps before average
    anti-aliasing, the parameter and MAC budget), reported at the spec's fields. The one
    post-plan step :func:`resgen.validate.load_planned` runs for ``validate``, ``build`` and
    every other command."""
    return _check_group_norm(spec, plan) + _check_even_maps(spec, plan) + _check_budget(plan)


def _residual(spec: Spec) -> bool:
    """Whether the blocks add a shortcut (the shortcut kind the spec picks says)."""
    return shortcut.select(spec.shortcut, spec.stride_shortcut).residual


def _check_blocks(spec: Spec) -> Problems:
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


def _check_widths(spec: Spec) -> Problems:
    """Each stage's kind's rules on that stage (widths it can build)."""
    problems: Problems = []
    for i, stage in enumerate(spec.stages):
        kind = stage_kind(spec, stage)
        for path, message in block_kinds.check_stage(kind.type, spec, kind.knobs, stage):
            problems.append((("stages", i, *path), message))
    return problems


def _check_block_knobs(spec: Spec) -> Problems:
    """``reduce_first`` leaves a first conv of at least one channel per group; attention's
    alternatives are given one at a time."""
    problems: Problems = []
    block_spec = spec.block
    reduce_first = block_spec.reduce_first
    if reduce_first != 1:
        kinds = {stage_kind(spec, stage).type for stage in spec.stages}
        if len(kinds) > 1:
            problems.append(
                (
                    ("block", "reduce_first"),
                    "stages that mix block kinds take one width each; use reduce_first 1 here",
                )
            )
        for i, stage in enumerate(spec.stages):
            first = stage_widths(spec, stage)[0]
            groups = stage_kind(spec, stage).knobs.groups
            # what reduce_first divides: a basic block's channels, a bottleneck's inner width
            width = stage_widths(spec, stage, reduce_first=1)[0]
            if first < 1 or first % groups:
                problems.append(
                    (
                        ("block", "reduce_first"),
                        f"stage {i + 1}'s first conv would output {width} // {reduce_first} = "
                        f"{first} channels, which its {groups}-group 3x3 conv cannot take; "
                        "lower reduce_first or widen the stage",
                    )
                )
                break
    problems += block_kinds.check(spec)
    for path, message in attention.check(block_spec.attention):
        problems.append((("block", "attention", *path), message))
    return problems


def _check_stem(spec: Spec) -> Problems:
    problems: Problems = []
    stem = spec.stem
    if stem.widths is not None and stem.type != "deep":
        problems.append(
            (
                ("stem", "widths"),
                f"only a deep stem has several convs to give widths; the {stem.type} stem has "
                "one (stem.channels)",
            )
        )
    elif (
        stem.widths is not None
        and "channels" in stem.model_fields_set
        and stem.channels != stem.widths[-1]
    ):
        problems.append(
            (
                ("stem", "channels"),
                f"the stem outputs its last conv's width, {stem.widths[-1]} (stem.widths); "
                f"leave channels out or make it {stem.widths[-1]}",
            )
        )
    if stem.type == "deep" and stem.widths is None and stem.channels % 2:
        problems.append(
            (
                ("stem", "channels"),
                f"a deep stem halves its width in the first two convs; use an even number, "
                f"not {stem.channels}",
            )
        )
    if stem.type == "cifar" and stem.pool_padding != "ignore":
        problems.append(
            (("stem", "pool_padding"), "the cifar stem has no max pool; remove pool_padding")
        )
    elif stem.pool_padding != "ignore" and stem_pool_kind(spec) != "max":
        problems.append(
            (
                ("stem", "pool_padding"),
                "only the 3x3/2 max pool pads; with stem.pool conv or anti_alias it is "
                "replaced, so remove pool_padding",
            )
        )
    if stem.type == "cifar" and stem.pool != "max":
        problems.append(
            (("stem", "pool"), "the cifar stem has no pool to replace; remove stem.pool")
        )
    return problems


def _check_shortcut(spec: Spec) -> Problems:
    problems: Problems = []
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
    if spec.projection_kernel != 1 and spec.shortcut not in ("projection", "always_projection"):
        why = (
            "ResNet-D's projection is a 1x1 after its pool"
            if spec.shortcut == "avg_projection"
            else f"shortcut {spec.shortcut} has no projection conv"
        )
        problems.append(
            (("projection_kernel",), f"{why}; use projection_kernel 1 or shortcut: projection")
        )
    if spec.zero_init_residual and spec.block.preact:
        problems.append(
            (
                ("zero_init_residual",),
                "pre-activation branches end in a conv, not a norm; set it to false",
            )
        )
    if spec.zero_init_residual and not _residual(spec):
        problems.append(
            (
                ("zero_init_residual",),
                "without shortcuts a zeroed branch blocks the signal; set it to false",
            )
        )
    if spec.shortcut == "zero_pad":
        channels = stem_widths(spec)[-1]
        for i, stage in enumerate(spec.stages):
            out = stage_widths(spec, stage)[2]
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


def _check_norm(spec: Spec) -> Problems:
    norm = spec.norm
    given = norm.model_fields_set
    if norm.type == "batch" and "groups" in given:
        return [(("norm", "groups"), "only group norm has groups; remove it or set type: group")]
    if norm.type == "group" and "momentum" in given:
        return [
            (
                ("norm", "momentum"),
                "group norm keeps no running statistics, so it has no momentum; remove it",
            )
        ]
    return []


def _check_drop_path(spec: Spec) -> Problems:
    if spec.drop_path_rate == 0:
        return []
    if not _residual(spec):
        return [
            (
                ("drop_path_rate",),
                "without shortcuts a dropped branch drops the whole signal; set it to 0",
            )
        ]
    if sum(stage.blocks for stage in spec.stages) < 2:
        return [
            (
                ("drop_path_rate",),
                "the linear rule spreads the rate over blocks 0 to N - 1 and needs N >= 2; "
                "set it to 0",
            )
        ]
    return []


def _check_anti_alias(spec: Spec) -> Problems:
    if spec.anti_alias == "none":
        return []
    for i, stage in enumerate(spec.stages):
        kind = stage_kind(spec, stage)
        if kind.knobs.stride_on_first and stage.stride == 2:
            return [
                (
                    ("anti_alias",),
                    f"anti-aliasing moves a 3x3 conv's stride to a pool, but stage {i + 1}'s "
                    "bottlenecks stride on their first 1x1; use block.stride_on: 3x3",
                )
            ]
    return []


# --- sizes -----------------------------------------------------------------------------------

_Step = tuple[FieldPath, str, Rounding]


def _downsamplings(spec: Spec) -> list[_Step]:
    """Every stride-2 layer on the main path, in order: where a problem is reported, what to
    call it, and how it rounds an odd size."""
    steps: list[_Step] = []
    if spec.stem.type != "cifar":
        steps.append((("input", "size"), "the stem's downsampling", "up"))
        # The pool (or what replaces it) rounds down where a 2x2 average pool takes its stride.
        pool = stem_pool_kind(spec)
        avg = spec.anti_alias == "avg" and pool in ("avg", "conv")
        rounding: Rounding = "down" if avg else "up"
        steps.append((("input", "size"), "the stem's downsampling", rounding))
    for i, stage in enumerate(spec.stages):
        if stage.stride == 2:
            rounding = "down" if spec.anti_alias == "avg" else "up"
            steps.append((("stages", i, "stride"), f"stage {i + 1}", rounding))
    return steps


def _halve(size: int, rounding: Rounding) -> int:
    return anti_alias_out(size, "avg") if rounding == "down" else conv_out(size, 3, 2, 1)


def _check_sizes(spec: Spec) -> Problems:
    """Every stride-2 layer needs at least a 2x2 input."""
    steps = _downsamplings(spec)
    size = spec.input.size
    needed = smallest_input(tuple(rounding for _, _, rounding in steps))
    hint = f"input.size {size} is too small for this network (needs at least {needed})"
    for path, what, rounding in steps:
        if size < 2:
            if path == ("input", "size"):
                return [(path, f"{what} sees a 1x1 map; {hint}")]
            return [(path, f"{what} would downsample a 1x1 feature map; {hint}")]
        size = _halve(size, rounding)
    return []


def _check_even_maps(spec: Spec, plan: NetworkPlan) -> Problems:
    """Average-pool anti-aliasing rounds down where the shortcut rounds up: an odd map before a
    strided block makes the two disagree (timm raises at run time; resgen says it here)."""
    if spec.anti_alias != "avg" or not _residual(spec):
        return []
    multiple = 2 ** len(plan.halvings)
    for block in plan.blocks:
        if block.anti_alias is not None and block.in_size % 2:
            return [
                (
                    ("input", "size"),
                    f"anti_alias avg halves rounding down while the shortcut rounds up, so "
                    f"stage {block.stage} must start on an even map, not {block.in_size} x "
                    f"{block.in_size}; use a multiple of {multiple} (e.g. "
                    f"{max(multiple, 224 // multiple * multiple)})",
                )
            ]
    return []


def _check_group_norm(spec: Spec, plan: NetworkPlan) -> Problems:
    if spec.norm.type != "group":
        return []
    groups = spec.norm.groups
    for norm in plan.norms:
        if norm.channels % groups:
            return [
                (
                    ("norm", "groups"),
                    f"{groups} groups do not divide {norm.torch_name}'s {norm.channels} "
                    "channels; every normalized width must be a multiple of groups",
                )
            ]
    return []


def _check_budget(plan: NetworkPlan) -> Problems:
    problems: Problems = []
    if plan.params > MAX_PARAMS:
        problems.append(
            (("stages",), f"{plan.params:,} parameters exceed resgen's bound of {MAX_PARAMS:,}")
        )
    if plan.macs > MAX_MACS:
        problems.append(
            (("stages",), f"{plan.macs:,} MACs per image exceed resgen's bound of {MAX_MACS:,}")
        )
    return problems
