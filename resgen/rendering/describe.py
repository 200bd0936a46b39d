"""Plain-English facts about a plan, for the docstrings of generated files.

Both backends print these same lines, so a file's prose is rendered from the plan that builds its
code and cannot drift from it.
"""

from __future__ import annotations

from resgen.backends import Backend
from resgen.components import activation, norm
from resgen.components import stem as stem_family
from resgen.plan.network import BlockClass, NetworkPlan, Stage

_SHORTCUTS = {
    "zero_pad": "option A: identity, with subsampling and zero channels appended where the "
    "shape changes (no parameters)",
    "projection": "option B: a 1x1 conv projection where the shape changes, identity elsewhere",
    "always_projection": "option C: a 1x1 conv projection on every block",
    "avg_projection": "ResNet-D: a 2x2 average pool, then a 1x1 conv projection, where the "
    "shape changes; identity elsewhere",
    "none": "none: a plain network, no shortcut connections",
    "identity": "identity where the shape stays; a block whose shape changes has none",
}


def block_sentence(block: BlockClass) -> str:
    """What one block computes, in words."""
    return "; ".join([_convs(block), *_around(block)])


def _convs(block: BlockClass) -> str:
    """A block's convs, in words (its kind's phrase)."""
    return block.sentence


def _acted(block: BlockClass) -> str:
    """Which norms the activation follows in a post-activation block."""
    return "each" if block.knobs.last_act else "all but the last"


def _around(block: BlockClass) -> list[str]:
    """What a block does around its convs: norms, activations, the modern knobs."""
    act = activation.kind(block.activation).name
    kind = norm.kind(block.norm)
    order = (
        f"{kind.with_act(act)} before each conv (pre-activation)"
        if block.preact
        else f"each conv followed by {kind.name}, {act} after {_acted(block)}"
        + (" and after the sum" if block.knobs.sum_act else "; no activation after the sum")
    )
    extras = []
    if block.anti_alias:
        pool = block.anti_alias.phrase
        extras.append(f"{pool} takes the 3x3's stride after its activation (anti-aliasing)")
    if block.attention:
        extras.append(block.attention.sentence)
    if block.drop_path:
        extras.append("stochastic depth drops the branch in training")
    return [order, *extras]


def block_doc(block: BlockClass) -> str:
    """The block class's docstring: the sentence, capitalised."""
    sentence = block_sentence(block)
    return f"{sentence[0].upper()}{sentence[1:]}."


def overview(plan: NetworkPlan) -> str:
    """The paragraph under a generated file's title line."""
    block = plan.block_class
    classes = plan.block_classes
    kind = " and ".join(c.type for c in classes)
    if len(classes) == 1:
        sentence = block_sentence(block)
    else:  # the kinds differ in their convs only
        kinds = [f"{c.type}: {_convs(c)}" for c in classes]
        sentence = "; ".join([*kinds, *_around(block)])
    blocks = len(plan.blocks)
    stages = len(plan.stages)
    shortcut = _SHORTCUTS[block.shortcut.policy]
    shortcut += block.shortcut.rule.clause
    if block.shortcut.wide_kernel:
        shortcut += f" ({block.shortcut.kernel}x{block.shortcut.kernel} where it strides)"
    return (
        f"{plan.depth} layers: {stem_phrase(plan)}, {blocks} {kind} blocks in {stages} "
        f"stages ({sentence}), {_final(plan)}global average pooling and a "
        f"{plan.head.num_classes}-way classifier. Shortcuts: {shortcut}. {plan.conv.sentence}"
        f"{plan.params:,} parameters, {plan.macs / 1e9:.3f} GMACs per image."
    )


def _final(plan: NetworkPlan) -> str:
    """What follows the last stage before pooling (timm regnet.py's final_conv), in words."""
    head = plan.head
    act = activation.kind(plan.activation).name
    if head.final_conv_norm is not None:
        norm_name = plan.norm.kind.name
        return f"a 1x1 conv to {head.in_features} with {norm_name} and {act}, "
    if head.final_act:
        return f"{act}, "
    return ""


def stem_phrase(plan: NetworkPlan) -> str:
    """The stem in words: its convs, then its pool (or what replaces it)."""
    stem = plan.stem
    phrase = stem_family.phrase(stem.kind, tuple(conv.out_channels for conv in stem.convs))
    if stem.pool is None:
        return phrase
    return f"{phrase} with {stem.pool.phrase}"


def _shape(channels: int, size: int, backend: str) -> str:
    """A feature map's shape in the backend's layout (NCHW or NHWC)."""
    if backend == "keras":
        return f"{size} x {size} x {channels}"
    return f"{channels} x {size} x {size}"


def stage_table(plan: NetworkPlan, backend: str = "torch") -> list[str]:
    """Rows of the stage table (header first), aligned for a docstring.

    Shapes are in the backend's layout, as its comments write them: channels x height x width
    in PyTorch, height x width x channels in Keras; stages take the backend's names
    (``layer1`` in PyTorch, ``conv2`` in Keras, which counts the stem as ``conv1``).
    """
    rows = [("stage", "blocks", "channels", "stride", "output")]
    stem = plan.stem
    rows.append(
        (
            "stem",
            "",
            f"{stem.in_channels} -> {stem.out_channels}",
            str(stem.stride),
            _shape(stem.out_channels, stem.out_size, backend),
        )
    )
    for stage in plan.stages:
        rows.append(
            (
                stage.keras_name if backend == "keras" else stage.torch_name,
                str(len(stage.blocks)),
                f"{stage.in_channels} -> {stage.out_channels}",
                _stage_stride(stage),
                _shape(stage.out_channels, stage.out_size, backend),
            )
        )
    head = plan.head
    if head.final_conv is not None:
        final = head.final_conv
        shape = _shape(final.out_channels, final.out_size, backend)
        rows.append(("final_conv", "", f"{final.in_channels} -> {final.out_channels}", "", shape))
    rows.append(("head", "", f"{head.in_features} -> {head.num_classes}", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def usage(plan: NetworkPlan, backend: Backend) -> str:
    """The module docstring's last paragraph: how to build the model and what it takes."""
    classes = plan.head.num_classes
    if backend == "torch":
        return (
            f"Build it with ``{plan.name}(num_classes={classes!r})``; it takes float tensors in "
            f"NCHW layout. Parameter names follow {plan.dialect.follows}, so their checkpoints "
            "load with ``strict=True`` where the architecture matches."
        )
    stem = plan.stem
    shape = (stem.in_size, stem.in_size, stem.in_channels)
    return (
        f"Build it with ``{plan.name}(num_classes={classes!r}, input_shape={shape!r})``; it "
        "takes float tensors in NHWC layout (channels last) and returns logits. Layer names "
        "follow keras.applications, so its weights load by layer name where the architecture "
        "matches. Shapes, in the table as in the comments, are height x width x channels."
    )


def features(plan: NetworkPlan, backend: Backend) -> str:
    """Where the feature maps of a pyramid are: the stem's (before its pool), then each stage's.

    PyTorch: what ``forward_intermediates`` returns, by index; Keras: the layers to read them
    from, for ``keras.Model(model.input, [model.get_layer(name).output for name in names])``.
    """
    stem, *stages = plan.feature_strides
    if backend == "torch":
        pool = plan.stem.pool
        before = f" before its {pool.kind.called}" if pool else ""
        return (
            f"Index 0 is the stem's output{before} (stride {stem}), then one per stage (strides "
            f"{', '.join(map(str, stages))}). ``indices``: None takes all, an int n the last n, "
            "a sequence those indices (negative ones count from the end). Returns the output "
            "of ``forward_features`` and the list, or the list alone if ``intermediates_only``."
        )
    layers = [f"``{plan.stem.keras_feature}`` (the stem, stride {stem})"]
    layers += [
        f"``{stage.keras_out}`` (stride {stride})"
        for stage, stride in zip(plan.stages, stages, strict=True)
    ]
    return (
        "Feature maps for a pyramid, the layers whose outputs give them: "
        f"{', '.join(layers)}; build it with ``keras.Model(model.input, "
        "[model.get_layer(name).output for name in names])``."
    )


def factory_doc(plan: NetworkPlan) -> str:
    """The factory's docstring."""
    return f"Build {plan.name}: {plan.params:,} parameters with the default head."


def _stage_stride(stage: Stage) -> str:
    """The stride a stage applies; a dilated stage (a spec's output_stride) says by how much."""
    if stage.dilation > 1:
        return f"1 (dilation {stage.dilation})"
    return str(stage.stride)
