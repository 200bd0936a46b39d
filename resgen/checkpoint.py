"""Checkpoints read and written strictly: PyTorch state_dicts and Keras ``.weights.h5`` files.

The suffix names the format (:func:`checkpoint_format`). Reading is strict: a checkpoint loads
only when it has every tensor the model has, nothing else, and every shape equal; otherwise a
:class:`~resgen.errors.ResgenError` names each missing, unexpected or misshapen tensor (a
screenful, then a count). :mod:`resgen.convert` builds on this; frameworks are imported inside
the functions, so ``import resgen.checkpoint`` loads none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from resgen.backends import Backend
from resgen.errors import Problem, ResgenError, one_line

if TYPE_CHECKING:
    import keras
    import torch

CHECKPOINT_LIMIT = 4 << 30  # bytes; resnetrs420 is 0.8 GB, with an optimizer's state ~2.4 GB
MAX_LISTED = 20  # problem lines shown for a checkpoint that does not fit; then a count

Kind = Literal["pickle", "safetensors", "keras", "keras_legacy"]


@dataclass(frozen=True)
class Format:
    """What a checkpoint path holds, from its suffix."""

    side: Backend
    kind: Kind

    @property
    def description(self) -> str:
        return {
            "pickle": "PyTorch state_dict",
            "safetensors": "PyTorch safetensors",
            "keras": "Keras weights",
            "keras_legacy": "Keras 2 .h5 weights, by layer name",
        }[self.kind]


SUFFIXES = ".pt, .pth, .safetensors (PyTorch), .weights.h5 or .h5 (Keras; .h5 only as IN)"


def checkpoint_format(path: Path) -> Format:
    """The format its suffix names; a :class:`ResgenError` for any other suffix."""
    name = path.name.lower()
    if name.endswith(".weights.h5"):
        return Format("keras", "keras")
    if name.endswith((".pt", ".pth")):
        return Format("torch", "pickle")
    if name.endswith(".safetensors"):
        return Format("torch", "safetensors")
    if name.endswith(".h5"):  # keras.applications' downloads, model.save("x.h5")
        return Format("keras", "keras_legacy")
    raise ResgenError(Problem.at_file(path, f"unknown checkpoint suffix: use {SUFFIXES}"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return one_line(text[0] if text else type(exc).__name__)


# ---------------------------------------------------------------------------------------------
# strict loading


@dataclass(frozen=True)
class Mismatch:
    """How a checkpoint differs from the model's own tensors, in the model's order."""

    missing: list[tuple[str, tuple[int, ...]]]
    unexpected: list[tuple[str, tuple[int, ...]]]
    misshapen: list[tuple[str, tuple[int, ...], tuple[int, ...]]]  # name, file's, model's

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.misshapen)

    def error(self, path: Path, model: str) -> ResgenError:
        """One line per tensor, at most :data:`MAX_LISTED`, then a count."""
        lines = [
            *(
                (name, f"missing (the model's is {shape_text(shape)})")
                for name, shape in self.missing
            ),
            *(
                (name, f"unexpected ({shape_text(shape)}, not in {model})")
                for name, shape in self.unexpected
            ),
            *(
                (name, f"shape {shape_text(theirs)}, the model's is {shape_text(ours)}")
                for name, theirs, ours in self.misshapen
            ),
        ]
        head = (
            f"does not fit {model}: {len(self.missing)} missing, {len(self.unexpected)} "
            f"unexpected, {len(self.misshapen)} misshapen tensor(s); nothing written"
        )
        return _listed(path, head, lines)


def _listed(path: Path, head: str, lines: list[tuple[str, str]]) -> ResgenError:
    """``head``, then one ``field: message`` line each, at most :data:`MAX_LISTED`, then a
    count of the rest: a screenful, in the order given."""
    problems = [Problem.at_file(path, head)]
    problems += [_tensor_problem(path, name, message) for name, message in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        problems.append(Problem.at_file(path, f"... and {len(lines) - MAX_LISTED} more"))
    return ResgenError(problems, ordered=True)


def _tensor_problem(path: Path, name: str, message: str) -> Problem:
    located = Problem.at_file(path, message)
    return Problem(located.file, 1, 1, one_line(name), located.message)


def shape_text(shape: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in shape) if shape else "scalar"


def compare(
    expected: dict[str, tuple[int, ...]],
    found: dict[str, tuple[int, ...]],
    optional: frozenset[str] = frozenset(),
) -> Mismatch:
    """Tensor names and shapes a checkpoint has (``found``) against a model's (``expected``);
    names in ``optional`` may be absent."""
    return Mismatch(
        missing=[(n, s) for n, s in expected.items() if n not in found and n not in optional],
        unexpected=[(n, s) for n, s in found.items() if n not in expected],
        misshapen=[(n, found[n], s) for n, s in expected.items() if n in found and found[n] != s],
    )


# ---------------------------------------------------------------------------------------------
# the PyTorch side

_WRAPPERS = ("state_dict", "model")  # where training scripts keep the state_dict
_OPTIONAL_TORCH = "num_batches_tracked"  # batch-norm counters old checkpoints lack


def read_torch(data: bytes, path: Path, kind: Kind) -> dict[str, torch.Tensor]:
    """The state_dict a ``.pt``/``.pth``/``.safetensors`` file holds (bytes already read)."""
    import io

    import torch

    if kind == "safetensors":
        from safetensors.torch import load

        try:
            return dict(load(data))
        except Exception as exc:  # safetensors raises its own error types
            raise _unreadable(path, "a safetensors file", exc) from None
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (zip), EOFError, ...
        raise _unreadable(
            path, "a PyTorch checkpoint loadable with weights_only=True", exc
        ) from None
    return _state_dict(loaded, path)


def _unreadable(path: Path, what: str, exc: BaseException) -> ResgenError:
    return ResgenError(Problem.at_file(path, f"not {what}: {_first_line(exc)}"))


def _state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    if isinstance(loaded, dict):
        for key in _WRAPPERS:
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise ResgenError(
            Problem.at_file(
                path,
                f"holds a {type(loaded).__name__}, not a state_dict (a dict of tensors, bare or "
                f"under {' or '.join(repr(k) for k in _WRAPPERS)})",
            )
        )
    strays = [k for k, v in loaded.items() if not isinstance(v, torch.Tensor)]
    if strays:
        head = f"not a state_dict: {len(strays)} value(s) are not tensors"
        lines = [(k, f"not a tensor but a {type(loaded[k]).__name__}") for k in strays]
        raise _listed(path, head, lines)
    # DataParallel and DistributedDataParallel save every name under "module.".
    if loaded and all(k.startswith("module.") for k in loaded):
        loaded = {k.removeprefix("module."): v for k, v in loaded.items()}
    return dict(loaded)


def load_torch(
    model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, name: str
) -> None:
    """Load ``state`` strictly; a :class:`ResgenError` naming every tensor that does not fit."""
    own = model.state_dict()
    mismatch = compare(
        {k: tuple(v.shape) for k, v in own.items()},
        {k: tuple(v.shape) for k, v in state.items()},
        optional=frozenset(k for k in own if k.endswith(_OPTIONAL_TORCH)),
    )
    if mismatch:
        raise mismatch.error(path, name)
    model.load_state_dict({**own, **state}, strict=True)


def torch_bytes(model: torch.nn.Module, kind: Kind) -> bytes:
    """The model's state_dict as a ``.pt`` (``torch.save``) or ``.safetensors`` file."""
    import io

    import torch

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if kind == "safetensors":
        from safetensors.torch import save

        return save(state, metadata={"format": "pt"})
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# the Keras side


def _keras_layout(model: keras.Model, scratch: Path) -> dict[str, Any]:
    """Where each weight of ``model`` lies in its ``.weights.h5`` (dataset path -> variable).

    Keras files address weights by layer class and position (``layers/conv2d_3/vars/0``), not
    by layer name; rather than mirror that scheme, this fills weight ``i`` with the value ``i``,
    saves, and reads the file back. The model's weights are overwritten.
    """
    import h5py
    import numpy as np

    weights = list(model.weights)
    for index, variable in enumerate(weights):
        variable.assign(np.full(tuple(variable.shape), index, dtype=variable.dtype))
    probe = scratch / "layout.weights.h5"
    model.save_weights(probe)
    layout: dict[str, Any] = {}
    with h5py.File(probe, "r") as file:
        for name, dataset in _datasets(file).items():
            if dataset.size and dataset.dtype.kind == "f":
                index = int(np.asarray(dataset).flat[0])
                if 0 <= index < len(weights) and tuple(dataset.shape) == weights[index].shape:
                    layout[name] = weights[index]
    probe.unlink()
    order = {id(variable): index for index, variable in enumerate(weights)}
    layout = dict(sorted(layout.items(), key=lambda item: order[id(item[1])]))  # model order
    if len(layout) != len(weights):
        raise RuntimeError(f"found {len(layout)} of {len(weights)} Keras weights in the file")
    return layout


def _datasets(file: Any) -> dict[str, Any]:
    import h5py

    found: dict[str, Any] = {}

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            found[name] = item

    file.visititems(visit)
    return found


def load_keras(model: keras.Model, data: bytes, path: Path, scratch: Path, name: str) -> None:
    """Load a ``.weights.h5`` strictly into ``model``; a :class:`ResgenError` naming every
    tensor that does not fit (by layer and variable name, or by the file's path)."""
    import io

    import h5py
    import numpy as np

    layout = _keras_layout(model, scratch)
    try:
        file = h5py.File(io.BytesIO(data), "r")
    except Exception as exc:  # OSError from HDF5 for anything that is not one
        raise _unreadable(path, "an HDF5 file", exc) from None
    with file:
        found = _datasets(file)
        shapes = {name: tuple(found[name].shape) for name in found}
        expected = {name: tuple(v.shape) for name, v in layout.items()}
        mismatch = compare(expected, shapes)
        if mismatch:
            raise _renamed(mismatch, layout).error(path, name)
        values = {name: np.asarray(found[name]) for name in layout}
    for name, variable in layout.items():
        variable.assign(values[name])


def _renamed(mismatch: Mismatch, layout: dict[str, Any]) -> Mismatch:
    """The model's tensors named ``layer/variable (file path)``, as people know them."""

    def label(name: str) -> str:
        return f"{layout[name].path} ({name})" if name in layout else name

    return Mismatch(
        missing=[(label(n), s) for n, s in mismatch.missing],
        unexpected=mismatch.unexpected,
        misshapen=[(label(n), theirs, ours) for n, theirs, ours in mismatch.misshapen],
    )


def keras_bytes(model: keras.Model, scratch: Path) -> bytes:
    """The model's weights as a Keras ``.weights.h5`` file."""
    path = scratch / "out.weights.h5"
    model.save_weights(path)
    data = path.read_bytes()
    path.unlink()
    return data


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def load_keras_legacy(model: keras.Model, data: bytes, path: Path, name: str) -> None:
    """Load a Keras 2 style ``.h5`` (keras.applications' downloads, ``model.save("x.h5")``)
    strictly into ``model``, matching weights by layer name and variable name
    (``conv1_conv/kernel``); a :class:`ResgenError` names every tensor that does not fit."""
    import io

    import h5py
    import numpy as np

    try:
        file = h5py.File(io.BytesIO(data), "r")
    except Exception as exc:  # OSError from HDF5 for anything that is not one
        raise _unreadable(path, "an HDF5 file", exc) from None
    with file:
        group = file.get("model_weights", file)  # a whole model saved, or weights alone
        if "layer_names" not in group.attrs:
            message = (
                "not a Keras 2 .h5 weights file (no layer_names; Keras 3 weights files end in "
                ".weights.h5)"
            )
            raise ResgenError(Problem.at_file(path, message))
        found: dict[str, Any] = {}
        for layer_name in map(_text, group.attrs["layer_names"]):
            layer = group[layer_name]
            for weight_name in map(_text, layer.attrs.get("weight_names", [])):
                variable = weight_name.rsplit("/", 1)[-1].split(":", 1)[0]
                found[f"{layer_name}/{variable}"] = layer[weight_name]
        own = {f"{layer.name}/{v.name}": v for layer in model.layers for v in layer.weights}
        mismatch = compare(
            {key: tuple(v.shape) for key, v in own.items()},
            {key: tuple(d.shape) for key, d in found.items()},
        )
        if mismatch:
            raise mismatch.error(path, name)
        values = {key: np.asarray(found[key]) for key in own}
    for key, variable in own.items():
        variable.assign(values[key])
