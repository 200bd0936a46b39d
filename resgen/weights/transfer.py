"""Move weights between the generated PyTorch and Keras models, and from keras.applications.

The two generated files name their layers by the one-to-one scheme of
:mod:`resgen.components.naming` (``layer1.0.conv1`` is ``conv2_block1_1_conv``, ``layer1.0.se.fc1``
is ``conv2_block1_se_reduce``), so weights move by name alone: no spec is needed, and anything
that does not pair up is reported, never skipped. Layouts differ: a PyTorch conv weight is
``(out, in / groups, kh, kw)`` and a Keras kernel ``(kh, kw, in / groups, out)``; ECA's 1-D
conv weight ``(out, in, k)`` is a Conv1D kernel ``(k, in, out)``; a linear weight is the
transpose of a dense kernel; batch norm's running mean and variance are Keras' moving mean and
variance; group and layer norm have only their scale and offset (a ``LayerNorm2d``, timm's layer
norm over an NCHW map's channels, is a ``LayerNormalization``): each norm kind declares its
twin and its pairing (:mod:`resgen.components.norm`); a conv kind's layer (timm's
``StdConv2d``, weight-standardised) pairs with its Keras twin like any conv, and both must
agree on its epsilon (:mod:`resgen.components.conv`). Constants that are not weights
(the blur pool's filter, a non-persistent buffer) are no part of a state_dict and move nowhere.

torch and keras are imported inside the functions, so ``import resgen.weights.transfer`` loads
neither.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from resgen.components import attention, block, naming, norm, shortcut, stem, stem_pool
from resgen.components import conv as conv_kinds

if TYPE_CHECKING:
    import keras
    import torch

# ``conv_linear``: a classifier that is a 1x1 conv in PyTorch (timm's ClassifierHead with
# ``use_conv``, the resnetv2 dialect's ``head.fc``) and a Dense layer in Keras.
LayerKind = Literal["conv", "conv1d", "norm", "linear", "conv_linear"]

# PyTorch tensor -> Keras variable, per kind of layer (a norm's: per class, below).
_VARIABLES: dict[LayerKind, dict[str, str]] = {
    "conv": {"weight": "kernel", "bias": "bias"},
    "conv1d": {"weight": "kernel", "bias": "bias"},
    "linear": {"weight": "kernel", "bias": "bias"},
    "conv_linear": {"weight": "kernel", "bias": "bias"},
}
# The norms, by PyTorch class: every registered norm kind's (resgen.components.norm), and the
# layer norm an attention kind uses. Each pairs its tensors with its twin's variables, and
# names the attributes both sides must agree on.
_LAYER_NORM = "LayerNorm2d"  # over the channels of an NCHW map, as timm's
_NORM_VARIABLES: dict[str, dict[str, str]] = {
    **{name: dict(kind.variables) for name, kind in norm.BY_TORCH_LAYER.items()},
    _LAYER_NORM: {"weight": "gamma", "bias": "beta"},
}
_NORM_MATCHES: dict[str, tuple[tuple[str, str], ...]] = {
    **{name: kind.matches for name, kind in norm.BY_TORCH_LAYER.items()},
    _LAYER_NORM: (("eps", "epsilon"),),
}
# The attributes a conv kind's layers must agree on (weight standardisation's epsilon), by
# PyTorch class; every conv kind's class is an nn.Conv2d, paired with its Keras twin.
_CONV_MATCHES = {name: kind.matches for name, kind in conv_kinds.BY_TORCH_LAYER.items()}
# Axis order that turns a PyTorch weight into a Keras kernel (its inverse goes back).
_TO_KERAS_AXES: dict[LayerKind, tuple[int, ...]] = {
    "conv": (2, 3, 1, 0),  # (out, in / groups, kh, kw) -> (kh, kw, in / groups, out)
    "conv1d": (2, 1, 0),  # (out, in, k) -> (k, in, out)
    "linear": (1, 0),  # (out, in) -> (in, out)
}
# The Keras layer class of each PyTorch module class resgen emits with weights.
_KERAS_CLASSES: dict[str, str] = {
    **{name: kind.keras_layer for name, kind in conv_kinds.BY_TORCH_LAYER.items()},
    "Conv1d": "Conv1D",
    **{name: kind.keras_layer for name, kind in norm.BY_TORCH_LAYER.items()},
    _LAYER_NORM: "LayerNormalization",
    "Linear": "Dense",
}


class TransferError(ValueError):
    """Two models whose weights do not pair up; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} weight transfer problem(s):\n{listed}")


# The final conv after the last stage (timm regnet.py's ``final_conv``): its conv and norm.
_FINAL_CONV: dict[tuple[LayerKind, str], str] = {
    (kind, torch_name): keras_name
    for kind, (torch_name, keras_name) in zip(
        ("conv", "norm"), naming.final_conv_names(), strict=True
    )
}


def _stem_table() -> dict[tuple[LayerKind, str], tuple[str, ...]]:
    """Each stem layer's PyTorch path in every dialect, with the Keras names it may have (a
    dialect's ``layer0.conv1`` is ``conv1_conv`` in one stem kind, ``conv1_1_conv`` in another)."""
    table: dict[tuple[LayerKind, str], tuple[str, ...]] = {}
    for dialect in naming.DIALECTS.values():
        for kind, torch_name, keras_name in (*stem.weights(dialect), *stem_pool.weights()):
            known = table.get((cast(LayerKind, kind), torch_name), ())
            if keras_name not in known:
                table[(cast(LayerKind, kind), torch_name)] = (*known, keras_name)
    return table


def _block_candidates(names: naming.BlockNames) -> Iterator[tuple[LayerKind, str, str]]:
    for kind, torch_name, keras_name in block.weights(names):
        yield (cast(LayerKind, kind), torch_name, keras_name)
    for kind, torch_name, keras_name in shortcut.weights(names):
        yield (cast(LayerKind, kind), torch_name, keras_name)
    for kind, torch_name, keras_name in attention.weights(names):
        yield (cast(LayerKind, kind), torch_name, keras_name)


def keras_layer_names(torch_path: str, kind: LayerKind) -> tuple[str, ...]:
    """The Keras layer names a PyTorch module path may pair with, in any naming dialect
    (``layer1.0.conv1`` -> ``conv2_block1_1_conv``); none when resgen emits no such path."""
    dialects = naming.DIALECTS.values()
    if kind in ("linear", "conv_linear"):
        conv = kind == "conv_linear"
        found = any(torch_path == d.classifier and d.classifier_conv == conv for d in dialects)
        return (naming.CLASSIFIER[1],) if found else ()
    if kind == "norm" and any(torch_path == dialect.final_norm for dialect in dialects):
        return (naming.FINAL_NORM[1],)
    final = _FINAL_CONV.get((kind, torch_path))
    if final is not None:
        return (final,)
    stem = _stem_table().get((kind, torch_path))
    if stem is not None:
        return stem
    names: list[str] = []
    for dialect in dialects:
        place = dialect.block_place(torch_path)
        if place is None:
            continue
        for candidate_kind, torch_name, keras_name in _block_candidates(
            dialect.block_names(*place)
        ):
            if candidate_kind == kind and torch_name == torch_path and keras_name not in names:
                names.append(keras_name)
    return tuple(names)


def keras_layer_name(
    torch_path: str, kind: LayerKind, keras_names: Collection[str] | None = None
) -> str | None:
    """The Keras layer name of a PyTorch module path (``layer1.0.conv1`` ->
    ``conv2_block1_1_conv``): the first of its candidates in ``keras_names`` (a model's
    layers; any candidate without them), or None when the path is not one resgen emits."""
    for name in keras_layer_names(torch_path, kind):
        if keras_names is None or name in keras_names:
            return name
    return None


@dataclass(frozen=True)
class _Pair:
    kind: LayerKind
    torch_path: str
    module: Any  # torch.nn.Module
    layer: Any  # keras.layers.Layer

    def tensors(self) -> list[tuple[str, Any, Any]]:
        """(PyTorch attribute, its tensor, the Keras variable of that name or None)."""
        variables = {v.name: v for v in self.layer.weights}
        found = []
        if self.kind == "norm":
            pairing = _NORM_VARIABLES[type(self.module).__name__]
        else:
            pairing = _VARIABLES[self.kind]
        for attribute, variable_name in pairing.items():
            tensor = getattr(self.module, attribute, None)
            if tensor is not None:
                found.append((attribute, tensor, variables.get(variable_name)))
        return found


def _torch_kind(module: Any) -> LayerKind | None:
    from torch import nn

    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.Conv1d):
        return "conv1d"
    if type(module).__name__ in _NORM_VARIABLES:
        return "norm"
    if isinstance(module, nn.Linear):
        return "linear"
    return None


def _axes(kind: LayerKind, attribute: str) -> tuple[int, ...] | None:
    return _TO_KERAS_AXES.get(kind) if attribute == "weight" else None


def _keras_shape(kind: LayerKind, attribute: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if kind == "conv_linear" and attribute == "weight":
        return (shape[1], shape[0])  # (classes, features, 1, 1) -> (features, classes)
    axes = _axes(kind, attribute)
    return shape if axes is None else tuple(shape[axis] for axis in axes)


def _to_keras(kind: LayerKind, attribute: str, value: Any) -> Any:
    """A PyTorch tensor's values (numpy) as its Keras variable holds them."""
    if kind == "conv_linear" and attribute == "weight":
        return value[:, :, 0, 0].T
    axes = _axes(kind, attribute)
    return value if axes is None else value.transpose(axes)


def _to_torch(kind: LayerKind, attribute: str, value: Any) -> Any:
    """A Keras variable's values (numpy) as its PyTorch tensor holds them."""
    import numpy as np

    if kind == "conv_linear" and attribute == "weight":
        return value.T[:, :, None, None]
    axes = _axes(kind, attribute)
    return value if axes is None else value.transpose(np.argsort(axes))


def _classifier_conv(path: str) -> bool:
    """``path`` is a dialect's 1x1 conv classifier (resnetv2's ``head.fc``)."""
    return any(d.classifier_conv and d.classifier == path for d in naming.DIALECTS.values())


def _pairs(torch_model: torch.nn.Module, keras_model: keras.Model) -> list[_Pair]:
    """Every weighted PyTorch module with its Keras layer; TransferError on any mismatch."""
    problems: list[str] = []
    keras_layers = {layer.name: layer for layer in keras_model.layers}
    pairs: list[_Pair] = []
    covered: set[int] = set()
    for path, module in torch_model.named_modules():
        kind = _torch_kind(module)
        if kind is None:
            continue
        if kind == "conv" and _classifier_conv(path):
            kind = "conv_linear"
        covered.update(id(t) for t in module.state_dict(keep_vars=True).values())
        names = keras_layer_names(path, kind)
        if not names:
            problems.append(f"torch {path}: not a layer name resgen emits")
            continue
        name = keras_layer_name(path, kind, keras_layers) or names[0]
        layer = keras_layers.get(name)
        if layer is None:
            problems.append(f"torch {path}: no keras layer {name}")
            continue
        expected = "Dense" if kind == "conv_linear" else _KERAS_CLASSES.get(type(module).__name__)
        if type(layer).__name__ != expected:
            problems.append(f"torch {path}: keras {name} is a {type(layer).__name__}")
            continue
        pair = _Pair(kind, path, module, layer)
        problems += _shape_problems(pair)
        pairs.append(pair)
    for tensor_name, tensor in torch_model.state_dict(keep_vars=True).items():
        if id(tensor) not in covered:
            problems.append(f"torch {tensor_name}: in no conv, norm or linear layer")
    paired = {pair.layer.name for pair in pairs}
    for name, layer in keras_layers.items():
        if layer.weights and name not in paired:
            problems.append(f"keras {name}: no torch module maps to it")
    if problems:
        raise TransferError(problems)
    return pairs


def _shape_problems(pair: _Pair) -> list[str]:
    problems = []
    where = f"torch {pair.torch_path} / keras {pair.layer.name}"
    tensors = pair.tensors()
    if len(tensors) != len(pair.layer.weights):
        torch_side = [attribute for attribute, _, _ in tensors]
        keras_side = [v.name for v in pair.layer.weights]
        problems.append(f"{where}: tensors {torch_side} do not pair with {keras_side}")
    for attribute, tensor, variable in tensors:
        if variable is None:
            problems.append(f"{where}: no keras variable for {attribute}")
            continue
        shape = _keras_shape(pair.kind, attribute, tuple(tensor.shape))
        if tuple(variable.shape) != shape:
            problems.append(
                f"{where}: {attribute} {tuple(tensor.shape)} does not fit {variable.name} "
                f"{tuple(variable.shape)}"
            )
    matches = _NORM_MATCHES if pair.kind == "norm" else _CONV_MATCHES
    for torch_attribute, keras_attribute in matches.get(type(pair.module).__name__, ()):
        ours = getattr(pair.module, torch_attribute)
        theirs = getattr(pair.layer, keras_attribute)
        if abs(ours - theirs) > 1e-12:
            problems.append(f"{where}: {torch_attribute} {ours} != {keras_attribute} {theirs}")
    return problems


def torch_to_keras(torch_model: torch.nn.Module, keras_model: keras.Model) -> None:
    """Copy every conv, norm and linear tensor of a generated PyTorch model into the
    generated Keras model of the same spec (built for any input shape).

    Raises TransferError listing every unmatched name or shape before anything is copied.
    """
    for pair in _pairs(torch_model, keras_model):
        for attribute, tensor, variable in pair.tensors():
            value = tensor.detach().cpu().float().numpy()
            variable.assign(_to_keras(pair.kind, attribute, value))


def keras_to_torch(keras_model: keras.Model, torch_model: torch.nn.Module) -> None:
    """Copy every conv, norm and dense variable of a generated Keras model into the
    generated PyTorch model of the same spec (bit for bit: only axes are permuted).

    Raises TransferError listing every unmatched name or shape before anything is copied.
    """
    import numpy as np
    import torch

    pairs = _pairs(torch_model, keras_model)
    with torch.no_grad():
        for pair in pairs:
            for attribute, tensor, variable in pair.tensors():
                value = _to_torch(pair.kind, attribute, np.asarray(variable))  # any backend
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(tensor.dtype))


def copy_weights_by_name(source: keras.Model, target: keras.Model, *, strict: bool = True) -> int:
    """Copy the weights of every weighted ``target`` layer from the ``source`` layer of the same
    name (for example ``keras.applications.ResNet50`` into ``resnet50_v1``); return how many
    layers were copied.

    Shapes must agree. With ``strict`` (the default) every weighted layer on either side must
    find its partner; otherwise unpaired layers are left as they are. Raises TransferError
    listing every problem before anything is copied.
    """
    import numpy as np

    problems: list[str] = []
    sources = {layer.name: layer for layer in source.layers if layer.weights}
    plan: list[tuple[Any, list[Any]]] = []
    for layer in target.layers:
        if not layer.weights:
            continue
        partner = sources.pop(layer.name, None)
        if partner is None:
            if strict:
                problems.append(f"target {layer.name}: no source layer of that name")
            continue
        ours = [tuple(v.shape) for v in layer.weights]
        theirs = [tuple(v.shape) for v in partner.weights]
        if ours != theirs:
            problems.append(f"{layer.name}: source shapes {theirs} != target shapes {ours}")
            continue
        plan.append((layer, [np.asarray(v) for v in partner.weights]))
    if strict:
        problems += [f"source {name}: no target layer of that name" for name in sources]
    if problems:
        raise TransferError(problems)
    for layer, values in plan:
        for variable, value in zip(layer.weights, values, strict=True):
            variable.assign(value)
    return len(plan)
