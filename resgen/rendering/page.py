"""What one generated file prints around the network: imports, constants, helper classes.

A page is derived from a :class:`~resgen.plan.network.NetworkPlan` for one backend. Templates print
it and decide nothing: which helper classes a file defines, which names it imports and which
module constants it declares are settled here, once, where they can be tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from resgen.backends import Backend
from resgen.components import activation, naming
from resgen.components.attention import AttentionKind
from resgen.components.conv import ConvKind
from resgen.components.norm import NormKind
from resgen.plan.network import NetworkPlan, Stage


@dataclass(frozen=True)
class Constant:
    """A module-level constant: ``NAME = value  # comment``, with comment lines above it."""

    name: str
    value: int | float
    comment: str = ""
    note: tuple[str, ...] = ()


@dataclass(frozen=True)
class StemPoolPad:
    """How a Keras stem pads before its max pool (Keras' max pool cannot pad by itself)."""

    layer: str  # the layer class, as the file spells it
    comment: str  # why (empty: the helper layer's docstring says it)
    # Its ``padding`` argument: 1 on every side, or ((top, bottom), (left, right)).
    padding: int | tuple[tuple[int, int], tuple[int, int]] = 1


@dataclass(frozen=True)
class Page:
    """Everything a backend's file prints that is not the network's own layers."""

    stdlib_imports: tuple[str, ...]
    framework_imports: tuple[str, ...]
    constants: tuple[Constant, ...]
    # Module-level helper functions and classes, in order, by template name
    # (``templates/<backend>/helpers/<name>.py.j2``): those before the norm kind's (PyTorch:
    # after it) and the attention kinds' (``templates/<backend>/{norm,attention}/<type>.py.j2``,
    # their ``define`` macro), then the rest.
    helpers: tuple[str, ...]
    norm: NormKind  # every norm's kind: its helper builds them all
    conv: ConvKind  # every conv's kind: its layer builds them all (the classifier's aside)
    attention: tuple[AttentionKind, ...]
    late_helpers: tuple[str, ...]
    stage_fields: tuple[str, ...]  # the ``Stage`` table's columns
    input_shape: tuple[int, ...]  # the factory's default input, in the backend's layout
    recursion_limit: int | None = None  # Keras: where Python's default is too low
    pool_pad: StemPoolPad | None = None  # Keras: the stem pool's padding layer
    keras: naming.KerasSuffixes = naming.KERAS  # Keras: what its helpers append to a name
    # The activation as code: PyTorch's module, constructed; Keras' ``Activation`` argument.
    act_layer: str = "nn.ReLU(inplace=True)"

    @property
    def norm_layer(self) -> str:
        """The helper every norm is built with."""
        return self.norm.helper

    @property
    def act_follows_norm(self) -> bool:
        """Whether the network's activation follows a norm where both stand; not where the
        norm kind applies its own nonlinearity (EvoNorm-S0, FRN with TLU), whose layer stands
        for both."""
        return not self.norm.activates

    @property
    def conv_layer(self) -> str:
        """PyTorch: the class every conv of the stem, blocks and shortcuts is built with."""
        return self.conv.torch_class

    @property
    def norm_class(self) -> str:
        """PyTorch: the norm class the initialisation looks for."""
        return self.norm.torch_class

    @property
    def any_size_shape(self) -> tuple[int | None, ...]:
        """The Keras input shape that leaves height and width open (channels last)."""
        return (None, None, self.input_shape[-1])

    def stage_row(self, stage: Stage) -> tuple[tuple[str, int], ...]:
        """One row of the ``STAGES`` table: (field, value) in column order."""
        return stage_row(self.stage_fields, stage)


def stage_row(fields: tuple[str, ...], stage: Stage) -> tuple[tuple[str, int], ...]:
    """One row of the ``STAGES`` table: (field, value) for each of ``fields``."""
    values = {
        "blocks": stage.num_blocks,
        "in_channels": stage.in_channels,
        "first_width": stage.first_width,
        "width": stage.width,
        "out_channels": stage.out_channels,
        "stride": stage.stride,
        "first_block": stage.first_block,
    }
    attention = dict(stage.attention_arguments)  # a stage without one passes 0s
    return tuple((name, values.get(name, attention.get(name, 0))) for name in fields)


def _stage_fields(plan: NetworkPlan, backend: Backend) -> tuple[str, ...]:
    """The ``Stage`` table's columns: only those some block of this network reads."""
    classes = plan.block_classes
    fields = ["blocks"]
    if backend == "torch":
        fields.append("in_channels")  # a Keras block reads its input width off the tensor
    if any(block.takes_first_width for block in classes):
        fields.append("first_width")
    if any(block.takes_width for block in classes):
        fields.append("width")
    fields += ["out_channels", "stride"]
    fields += plan.attention_arguments
    if plan.drop_path:
        fields.append("first_block")
    return tuple(fields)


def _norm_constants(plan: NetworkPlan, backend: Backend) -> list[Constant]:
    """What the norm kind's helper reads (batch norm: epsilon and momentum), then what the conv
    kind's layer reads (weight standardisation: epsilon)."""
    found = (*plan.norm.constants(backend), *plan.conv.constants(backend))
    return [Constant(*constant) for constant in found]


def _shared_constants(plan: NetworkPlan) -> list[Constant]:
    out = []
    if plan.grouped:
        groups = plan.block_class.groups
        out.append(Constant("GROUPS", groups, comment="groups of each 3x3 conv"))
    if plan.drop_path:
        rate = Constant(
            "DROP_PATH_RATE", plan.drop_path_rate, comment="stochastic depth of the last block"
        )
        out += [rate, Constant("NUM_BLOCKS", plan.num_blocks)]
    if plan.head.dropout > 0:
        out.append(Constant("DROPOUT", plan.head.dropout, comment="before the classifier"))
    return out


def _anti_alias_helpers(plan: NetworkPlan) -> list[str]:
    """The class the anti-aliasing kind builds, where it has one (the blur pool)."""
    aa = plan.anti_alias
    return [aa.helper] if aa is not None and aa.helper else []


def _late_helpers(plan: NetworkPlan) -> list[str]:
    """Helper functions after the attention kinds': stochastic depth."""
    return ["drop_path"] if plan.drop_path else []


def torch_page(plan: NetworkPlan) -> Page:
    constants = [*_norm_constants(plan, "torch"), *_shared_constants(plan)]
    helpers = []
    if any(block.shortcut.zero_pad for block in plan.block_classes):
        helpers.append("zero_pad_shortcut")
    if any(block.shortcut.pool for block in plan.block_classes):
        helpers.append("shortcut_pool")
    stem = plan.stem
    fields = _stage_fields(plan, "torch")
    stdlib = ["from collections.abc import Sequence", "from typing import NamedTuple"]
    if plan.named_children:  # the stem's layers, blocks or a projection named in nn.Sequential
        stdlib.insert(0, "from collections import OrderedDict")
    return Page(
        stdlib_imports=tuple(stdlib),
        framework_imports=("import torch", "from torch import nn"),
        constants=tuple(constants),
        helpers=tuple(helpers),
        attention=plan.attention_kinds,
        late_helpers=(*_anti_alias_helpers(plan), *_late_helpers(plan)),
        stage_fields=fields,
        input_shape=(stem.in_channels, stem.in_size, stem.in_size),
        norm=plan.norm.kind,
        conv=plan.conv.kind,
        act_layer=activation.kind(plan.activation).torch,
    )


def keras_recursion_limit(plan: NetworkPlan) -> int | None:
    """A Python recursion limit under which Keras can walk this network's layer graph.

    ``keras.Model`` (and ``keras.saving.load_model``) recurse once per layer along the longest
    path, at most 12 layers a block; None where Python's default of 1000 frames leaves room
    for the caller's.
    """
    depth = 12 * len(plan.blocks) + 24
    if depth <= 800:
        return None
    return -(-(2 * depth + 1000) // 1000) * 1000


def keras_pool_pad(plan: NetworkPlan) -> StemPoolPad | None:
    """What the stem pads its max pool with: Keras' max pool cannot pad.

    Zeros where the spec asks for zero padding, or where the pool follows a ReLU (a zero never
    beats a window's real, non-negative values, so it equals ignoring the padding); -inf
    where the pool follows a bare conv (pre-activation stems) or an activation with negative
    outputs (SiLU, GELU); None without a max pool. The blur stem's stride-1 max pool pads too.
    """
    stem = plan.stem
    if stem.pool is None or not stem.pool.kind.keras_pad:
        return None
    if stem.pool.ceil:  # the rules ask for a norm and a non-negative activation before it
        return StemPoolPad(
            "layers.ZeroPadding2D",
            "PyTorch's ceil_mode: the last window may overhang the map's end (a zero never "
            "beats a ReLU's outputs).",
            ((0, 1), (0, 1)),
        )
    if stem.pool.zero_padded:
        return StemPoolPad(
            "layers.ZeroPadding2D",
            "The pool pads with zeros, as keras.applications' ResNetV2 does.",
        )
    if stem.final_norm is not None and activation.kind(plan.activation).non_negative:
        return StemPoolPad(
            "layers.ZeroPadding2D",
            "Zero padding after a ReLU equals PyTorch's (padded cells never win the max).",
        )
    return StemPoolPad("NegInfPadding2D", "")


def keras_page(plan: NetworkPlan) -> Page:
    limit = keras_recursion_limit(plan)
    pool_pad = keras_pool_pad(plan)
    constants = [
        *_norm_constants(plan, "keras"),
        *_shared_constants(plan),
        Constant(
            "MIN_INPUT_SIZE",
            plan.min_input_size,
            comment="least height and width: every stride-2 layer sees 2 x 2 or more",
        ),
    ]
    if limit is not None:
        note = (
            "keras.Model walks the layer graph recursively, a call per layer on the longest "
            "path: this",
            "network needs more than Python's default recursion limit (so does loading it "
            "from a file).",
        )
        constants.append(Constant("RECURSION_LIMIT", limit, note=note))
    layers = []  # custom layers and functions: typed ``Any`` and built on keras.ops
    if any(block.shortcut.zero_pad for block in plan.block_classes):
        layers.append("zero_pad_shortcut")
    if pool_pad is not None and pool_pad.layer == "NegInfPadding2D":
        layers.append("neg_inf_padding")
    layers += _anti_alias_helpers(plan)
    act = activation.kind(plan.activation)
    if act.keras_helper:
        layers.append(act.keras_helper)
    stdlib = ["import sys"] if limit is not None else []
    if plan.mixed:
        stdlib.append("from collections.abc import Callable")
    framework = ["import keras", "from keras import layers"]
    # Custom layers are typed Any, an attention, block, norm or conv kind's too (it computes
    # with keras.ops).
    kinds = (*plan.attention_kinds, *(block.kind for block in plan.block_classes))
    custom = any(kind.keras_layers for kind in (*kinds, plan.norm.kind, plan.conv.kind))
    if layers or custom:
        stdlib.append("from typing import Any, NamedTuple")
    else:
        stdlib.append("from typing import NamedTuple")
    # The layers compute with keras.ops (an activation's function does not), and so may
    # attention helpers and block kinds.
    ops = custom or any(kind.keras_ops for kind in kinds)
    if set(layers) - {act.keras_helper} or ops:
        framework[1] += ", ops"
    stem = plan.stem
    return Page(
        stdlib_imports=tuple(stdlib),
        framework_imports=tuple(framework),
        constants=tuple(constants),
        helpers=(*layers, "conv2d"),
        norm=plan.norm.kind,
        conv=plan.conv.kind,
        attention=plan.attention_kinds,
        late_helpers=tuple(_late_helpers(plan)),
        stage_fields=_stage_fields(plan, "keras"),
        input_shape=(stem.in_size, stem.in_size, stem.in_channels),
        recursion_limit=limit,
        pool_pad=pool_pad,
        keras=plan.block_class.keras,
        act_layer=act.keras,
    )


def page(plan: NetworkPlan, backend: Backend) -> Page:
    return torch_page(plan) if backend == "torch" else keras_page(plan)
