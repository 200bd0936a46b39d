"""Plain-English facts about a plan, for the docstrings of generated files.

Both backends print these same lines, so a file's prose is rendered from the plan that builds its
code and cannot drift from it.
"""

from __future__ import annotations

from resgen.page import Backend
from resgen.plan import BlockClass, NetworkPlan

_STEMS = {
    "imagenet": "a 7x7/2 conv stem with a 3x3/2 max pool",
    "cifar": "a 3x3 conv stem",
    "deep": "a deep stem (three 3x3 convs, ResNet-C) with a 3x3/2 max pool",
}

_SHORTCUTS = {
    "zero_pad": "option A: identity, with subsampling and zero channels appended where the "
    "shape changes (no parameters)",
    "projection": "option B: a 1x1 conv projection where the shape changes, identity elsewhere",
    "always_projection": "option C: a 1x1 conv projection on every block",
    "avg_projection": "ResNet-D: a 2x2 average pool, then a 1x1 conv projection, where the "
    "shape changes; identity elsewhere",
    "none": "none: a plain network, no shortcut connections",
}


def block_sentence(block: BlockClass) -> str:
    """What one block computes, in words."""
    if block.kind == "basic":
        body = "two 3x3 convs"
    else:
        conv = "first 1x1" if block.stride_on_first else "3x3"
        grouped = f", the 3x3 in {block.groups} groups" if block.grouped else ""
        body = f"1x1, 3x3 and 1x1 convs (stride on the {conv}{grouped})"
    order = (
        "norm and ReLU before each conv (pre-activation)"
        if block.preact
        else ("each conv followed by batch norm, ReLU after all but the last and after the sum")
    )
    return f"{body}; {order}"


def block_doc(block: BlockClass) -> str:
    """The block class's docstring: the sentence, capitalised."""
    sentence = block_sentence(block)
    return f"{sentence[0].upper()}{sentence[1:]}."


def overview(plan: NetworkPlan) -> str:
    """The paragraph under a generated file's title line."""
    block = plan.block_class
    kind = "basic" if block.kind == "basic" else "bottleneck"
    blocks = len(plan.blocks)
    stages = len(plan.stages)
    shortcut = _SHORTCUTS[block.shortcut.policy]
    if block.shortcut.when == "on_width_change":
        shortcut += " (a stride-only change subsamples instead)"
    return (
        f"{plan.depth} layers: {_STEMS[plan.stem.kind]}, {blocks} {kind} blocks in {stages} "
        f"stages ({block_sentence(block)}), global average pooling and a "
        f"{plan.head.num_classes}-way classifier. Shortcuts: {shortcut}. "
        f"{plan.params:,} parameters, {plan.macs / 1e9:.3f} GMACs per image."
    )


def stage_table(plan: NetworkPlan, backend: str = "torch") -> list[str]:
    """Rows of the stage table (header first), aligned for a docstring.

    Shapes are channels x height x width in both backends; stages take the backend's names
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
            f"{stem.out_channels} x {stem.out_size} x {stem.out_size}",
        )
    )
    for stage in plan.stages:
        rows.append(
            (
                stage.keras_name if backend == "keras" else stage.torch_name,
                str(len(stage.blocks)),
                f"{stage.in_channels} -> {stage.out_channels}",
                str(stage.stride),
                f"{stage.out_channels} x {stage.out_size} x {stage.out_size}",
            )
        )
    rows.append(("head", "", f"{plan.head.in_features} -> {plan.head.num_classes}", "", ""))
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
            "NCHW layout. Parameter names follow torchvision, so its checkpoints load with "
            "``strict=True`` where the architecture matches."
        )
    stem = plan.stem
    shape = (stem.in_size, stem.in_size, stem.in_channels)
    return (
        f"Build it with ``{plan.name}(num_classes={classes!r}, input_shape={shape!r})``; it "
        "takes float tensors in NHWC layout (channels last) and returns logits. Layer names "
        "follow keras.applications, so its weights load by layer name where the architecture "
        "matches. The table lists channels x height x width."
    )


def features(plan: NetworkPlan, backend: Backend) -> str:
    """Where the feature maps of a pyramid are: the stem's (before its pool), then each stage's.

    PyTorch: what ``forward_intermediates`` returns, by index; Keras: the layers to read them
    from, for ``keras.Model(model.input, [model.get_layer(name).output for name in names])``.
    """
    stem, *stages = plan.feature_strides
    if backend == "torch":
        before = " before its max pool" if plan.stem.pool else ""
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
