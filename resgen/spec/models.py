"""The spec: pydantic models that mirror what a user writes in YAML.

Field-level rules (types, ranges, choices) live here; rules that relate several fields live in
:mod:`resgen.check.rules`, which can point at the exact field at fault. Nothing here derives
numbers: that is :mod:`resgen.plan.network`'s job.
"""

from __future__ import annotations

import builtins
import keyword
import re
import sys
from typing import Annotated, Literal

from pydantic import Field, field_validator

from resgen.components import (
    activation,
    anti_alias,
    attention,
    block,
    conv,
    naming,
    norm,
    stem,
    stem_pool,
)
from resgen.components.activation import Activation
from resgen.components.anti_alias import AntiAliasWord
from resgen.components.base import SpecModel as _Model
from resgen.components.block import BlockSpec, BlockType

# The kinds' models, under the names the rest of resgen and the tests know them by.
from resgen.components.block.basic import BasicBlockSpec as BasicBlockSpec
from resgen.components.block.bottleneck import BottleneckBlockSpec as BottleneckBlockSpec
from resgen.components.conv import ConvSpec
from resgen.components.norm import NormType
from resgen.components.stem import StemType
from resgen.components.stem_pool import StemPoolWord
from resgen.spec.pretrained import PretrainedSpec

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

# Names a generated file defines or imports at module level (torch and keras templates), and the
# frameworks it loads; a spec name must not shadow them, inside the file or as `<name>.py` on
# sys.path. tests/test_hostile.py checks this covers every lowercase module-level name emitted.
RESERVED_NAMES = frozenset(
    {"torch", "nn", "keras", "layers", "ops", "make_stage", "typing", "conv2d", "sys"}
    | block.DEFINES
    | {"tensorflow", "jax", "numpy", "torchvision"}
    | {"drop_path_rate"}
    | attention.DEFINES
    | norm.DEFINES
    | conv.DEFINES
    | {"feature_maps", "freeze", "preprocess_input"}
    | {"stage_strides", "shortcut_pool"}
)

# The factory `def <name>` would shadow a builtin the file calls (`range`, `super`, `int`, ...).
BUILTIN_NAMES = frozenset(n for n in dir(builtins) if re.fullmatch(NAME_PATTERN, n))

# `<name>.py` beside a user's script would shadow the standard-library module of that name.
STDLIB_NAMES = frozenset(n for n in sys.stdlib_module_names if re.fullmatch(NAME_PATTERN, n))

# Windows cannot create `<name>.py` for its device names (a clone of the repo would fail).
DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{kind}{n}" for kind in ("com", "lpt") for n in range(10)}
)

# `<name>.py` that Python or a common tool imports or runs by itself, without being asked to,
# once the file's folder is on the path or is the project: generated code must never start up.
STARTUP_NAMES = {
    "sitecustomize": "Python imports sitecustomize.py at start-up when its folder is on sys.path",
    "usercustomize": "Python imports usercustomize.py at start-up when its folder is on sys.path",
    "conftest": "pytest imports every conftest.py it finds while collecting tests",
    "setup": "pip and setuptools run setup.py when they build the folder holding it",
    "noxfile": "nox runs noxfile.py from the folder it is started in",
}

# Norm settings float32 can honour (the fields' descriptions and docs/guarantees.md say why).
MIN_NORM_EPS = 1e-12
MIN_NORM_MOMENTUM = 1e-4

MAX_STAGES = 16
# A stage's channels: above timm's widest stage, regnety_2560's 10,444 (SEER's RegNetY-256GF);
# the parameter and MAC budgets (resgen/check/rules.py) bound a network's real size.
MAX_WIDTH = 16384


class InputSpec(_Model):
    """The image the network takes."""

    channels: int = Field(3, ge=1, le=64, description="Input channels (3 for RGB).")
    size: int = Field(224, ge=1, le=4096, description="Input height and width in pixels (square).")


class StemSpec(_Model):
    """The layers before the first stage."""

    type: StemType = Field("imagenet", description=stem.DESCRIPTION)
    channels: int = Field(
        64,
        ge=1,
        le=4096,
        description="Output channels of the stem. With `widths`, leave it out or give the last "
        "width (timm: `stem_width` is half of it for a deep stem; an imagenet stem is 64).",
    )
    widths: list[Annotated[int, Field(ge=1, le=4096)]] | None = Field(
        None,
        min_length=3,
        max_length=3,
        description="The output widths of a deep stem's three convs; default channels/2, "
        "channels/2, channels. timm's tiered stem (resnet26t, resnet50t, ...) is [24, 32, 64] "
        "(timm: `stem_type='deep_tiered'`, 3 * (stem_width // 4), stem_width, 2 * stem_width).",
    )
    pool: StemPoolWord = Field("max", description=stem_pool.DESCRIPTION)
    pool_padding: Literal["ignore", "zeros", "ceil"] = Field(
        "ignore",
        description=(
            "How the 3x3/2 stem max pool pads. ignore: padded cells never win (PyTorch). "
            "zeros: explicit zero padding first (keras.applications ResNetV2, where the pool "
            "follows a bare convolution). ceil: no padding, the output size rounded up, so the "
            "last window may overhang the map's end (PyTorch's `ceil_mode=True`, Caffe's "
            "pooling; timm's legacy SENet); the stem must end in a ReLU-like activation."
        ),
    )


class StageSpec(_Model):
    """One stage: a run of blocks at one width and resolution."""

    blocks: int = Field(ge=1, le=1000, description="Number of residual blocks.")
    channels: int = Field(
        ge=1,
        le=MAX_WIDTH,
        description="A basic block's width; a bottleneck's inner width (output is channels * "
        "expansion); a regnet block's output width. At most 16384: above timm's widest stage "
        "(regnety_2560's 10,444); the parameter and MAC budgets bound the network's size.",
    )
    stride: Literal[1, 2] = Field(1, description="Spatial stride of the stage (1 or 2).")
    block_type: BlockType | None = Field(
        None,
        description="This stage's block kind, where stages mix them (timm's test_resnet); "
        "default `block.type`. The other knobs come from `block`: a bottleneck stage under "
        "basic blocks takes the bottleneck defaults; a basic stage under bottlenecks needs "
        "groups 1 and width_per_group 64 (timm: `block` as a per-stage tuple).",
    )


class NormSpec(_Model):
    """The norm layer of the whole network (stem, blocks, projections), PyTorch's convention."""

    type: NormType = Field("batch", description=norm.DESCRIPTION)
    groups: int = Field(
        32,
        ge=1,
        le=8192,
        description="Groups of a group norm or EvoNorm-S0 (contiguous channels); must divide "
        "every normalized width (timm's GroupNorm and EvoNorm2dS0: 32). Only for types group "
        "and evonorm_s0.",
    )
    group_size: int | None = Field(
        None,
        ge=1,
        le=8192,
        description="Channels in each group of a group norm, in place of `groups`: a norm over C "
        "channels has C / group_size groups, and every normalized width must be a multiple of "
        "it (timm: GroupNormAct's `group_size`, 16 in regnety_040_sgn). Only for type group.",
    )
    eps: float = Field(
        1e-5,
        ge=MIN_NORM_EPS,
        lt=1,
        description="Added to the variance (FRN: to the mean square; keras.applications uses "
        "1.001e-5). At least 1e-12: "
        "for a channel that never varies, gradients scale with eps^-1.5, which overflows float32 "
        "(NaN gradients) below about 2e-26.",
    )
    momentum: float = Field(
        0.1,
        ge=MIN_NORM_MOMENTUM,
        le=1,
        description="Weight of the new batch in the running statistics (PyTorch convention; Keras' "
        "momentum is 1 - this, so keras.applications' 0.99 is 0.01 here). At least 1e-4: Keras "
        "keeps 1 - momentum in float32, which would round smaller values away. Batch norm only.",
    )


class RegNetSpec(_Model):
    """RegNet's rule (Radosavovic et al. 2020): the stages generated from a few numbers."""

    depth: int = Field(ge=1, le=1000, description="Blocks in the network, d (timm: `depth`).")
    w0: int = Field(
        ge=1,
        le=8192,
        description="Width of the first block, w0 > 0, a multiple of quant (timm: `w0`).",
    )
    wa: float = Field(
        ge=0,
        le=8192,
        description="Width slope, wa >= 0: block j's continuous width is w0 + wa * j (timm: `wa`).",
    )
    wm: float = Field(
        gt=1,
        le=64,
        description="Width multiplier, wm > 1: each continuous width snaps to w0 times the "
        "nearest power of wm, then to a multiple of quant; blocks of equal width form a stage, "
        "each striding 2 (timm: `wm`).",
    )
    quant: int = Field(8, ge=1, le=64, description="Widths are multiples of this (pycls: 8).")
    rounding: Literal["nearest", "torchvision"] = Field(
        "nearest",
        description="How a stage's bottleneck width becomes a multiple of its group width: "
        "nearest (pycls, timm) or torchvision's _make_divisible (at least one group, never "
        "more than 10% lower; timm: `group_min_ratio=0.9`, the `_tv` models).",
    )


# The naming dialects resgen/components/naming.py owns (``timm`` first, the default).
NamingDialect = Literal[tuple(naming.DIALECTS)]  # type: ignore[valid-type]

Shortcut = Literal[
    "zero_pad", "projection", "always_projection", "avg_projection", "none", "identity"
]


class Spec(_Model):
    """A residual network, as declared in YAML."""

    name: str = Field(
        pattern=NAME_PATTERN,
        max_length=64,
        description="Python identifier for the file and the factory function; not a keyword, "
        "builtin, standard-library module, a name the generated file uses, or a file Python or "
        "a common tool runs by itself (sitecustomize, conftest, setup, ...).",
    )
    description: str = Field("", max_length=2000, description="One line on what this reproduces.")
    extends: str | None = Field(
        None, description="A base spec to start from, relative to this file (resolved on load)."
    )
    family: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        max_length=32,
        description="The family this spec belongs to (torchvision, keras, papers, timm, ...), "
        "shown by `resgen list`; bookkeeping only, the generated file does not depend on it.",
    )
    naming: NamingDialect = Field(
        "timm",
        description="The PyTorch file's module names (its state_dict keys), so a library's "
        "checkpoints load strictly: "
        + "; ".join(d.description for d in naming.DIALECTS.values())
        + ". The Keras file's names are the same in every dialect.",
    )
    num_classes: int = Field(1000, ge=1, le=1_000_000, description="Classifier outputs.")
    input: InputSpec = Field(default_factory=InputSpec)
    stem: StemSpec = Field(default_factory=StemSpec)
    block: BlockSpec = Field(description="The block kind and its knobs.")
    stages: list[StageSpec] = Field(
        default_factory=list,
        min_length=1,
        max_length=MAX_STAGES,
        description="The stages; leave them out where `regnet` generates them.",
    )
    regnet: RegNetSpec | None = Field(
        None,
        description="Generate the stages by RegNet's rule (Radosavovic et al. 2020) instead of "
        "listing them; the blocks must be `type: regnet`, whose `group_width` and "
        "`bottle_ratio` the rule also reads. `resgen summary` prints the stages it derives.",
    )
    shortcut: Shortcut = Field(
        "projection",
        description="zero_pad (A): parameter-free, zeros added where width grows, subsampling "
        "where stride is 2. projection (B): 1x1 conv + norm only where the shape changes. "
        "always_projection (C): on every block. avg_projection (ResNet-D): 2x2 avg pool, then "
        "1x1 conv + norm where the shape changes. none: no shortcut (the plain baseline). "
        "identity: identity where the shape stays, no shortcut where it changes (that block "
        "is plain; timm regnet.py: `downsample=None`, RegNet-Z).",
    )
    stride_shortcut: Literal["projection", "subsample"] = Field(
        "projection",
        description="For projection shortcuts, what a block whose channels stay and whose "
        "stride is 2 uses: projection, or a parameter-free 1x1 subsample (keras ResNetV2).",
    )
    conv_bias: Literal["none", "all", "unnormalized"] = Field(
        "none",
        description="Which convs carry a bias: none (torchvision), all (keras ResNet50), or "
        "unnormalized: those not followed by a norm (keras ResNetV2).",
    )
    projection_kernel: Literal[1, 3] = Field(
        1,
        description="Kernel of the projection shortcuts that stride (padding 1 for 3); those of "
        "stride 1 stay 1x1. SENet-154 uses 3. Only with shortcut projection or "
        "always_projection (timm: `down_kernel_size`).",
    )
    conv: ConvSpec = Field(default_factory=conv.DEFAULT, description=conv.DESCRIPTION)
    norm: NormSpec = Field(default_factory=NormSpec)
    activation: Activation = Field("relu", description=activation.DESCRIPTION)
    anti_alias: AntiAliasWord = Field("none", description=anti_alias.DESCRIPTION)
    drop_path_rate: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Stochastic depth (Huang et al. 2016): block i of the N in the network "
        "(0-based) drops its residual branch for whole samples with probability "
        "drop_path_rate * i / (N - 1), scaling kept ones by 1 / (1 - that) in training; "
        "identity in eval (timm: `drop_path_rate`).",
    )
    output_stride: Literal[8, 16, 32] = Field(
        32,
        description="The default of the factories' `output_stride` (32, 16 or 8): once the "
        "network has reached it, each later stage runs at stride 1 and dilates its 3x3 convs "
        "by its stride instead, the first block of a stage keeping the previous dilation (timm: "
        "`output_stride`; torchvision: `replace_stride_with_dilation`). `resgen summary` shows "
        "this default's shapes and MACs.",
    )
    zero_init_residual: bool = Field(
        False,
        description="Start the last norm of each residual branch at zero (Goyal et al.) (timm: "
        "`zero_init_last`, true by default there).",
    )
    dropout: float = Field(
        0.0, ge=0, lt=1, description="Dropout before the classifier (timm: `drop_rate`)."
    )
    final_conv: int = Field(
        0,
        ge=0,
        le=MAX_WIDTH,
        description="Width of a 1x1 conv, its norm and the activation after the last stage, "
        "which pooling and the classifier then read (timm regnet.py: `final_conv` to "
        "`num_features`, RegNet-Z); 0: none.",
    )
    final_act: bool = Field(
        False,
        description="The activation alone after the last stage, before pooling (timm "
        "regnet.py's `final_conv` where `num_features` is 0 and the blocks are `linear_out`); "
        "not with final_conv, whose own activation ends the features.",
    )
    pretrained: PretrainedSpec | None = Field(
        None,
        description="How the weights expect images (channel order, scale, mean, std, crop, "
        "interpolation): the PyTorch file's PRETRAINED_CFG and the Keras file's "
        "preprocess_input; resgen train normalises with it. Default: ImageNet's mean and std "
        "on RGB in [0, 1], crop 0.875, bilinear.",
    )

    @field_validator("name")
    @classmethod
    def _name_is_usable(cls, value: str) -> str:
        if keyword.iskeyword(value) or keyword.issoftkeyword(value):
            raise ValueError(f"'{value}' is a Python keyword; pick another name")
        if value in RESERVED_NAMES:
            raise ValueError(f"'{value}' would shadow a name the generated file uses")
        if value in BUILTIN_NAMES:
            raise ValueError(f"'{value}' is a Python builtin the generated file may call")
        if value in STDLIB_NAMES:
            raise ValueError(f"'{value}' is a standard-library module; {value}.py would shadow it")
        if value in DEVICE_NAMES:
            raise ValueError(f"'{value}' is a Windows device name; {value}.py cannot be created")
        if value in STARTUP_NAMES:
            raise ValueError(f"'{value}' would run by itself: {STARTUP_NAMES[value]}")
        return value
