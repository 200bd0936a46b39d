"""Checkpoints read and written strictly: PyTorch state_dicts and Keras ``.weights.h5`` files.

The suffix names the format (:func:`checkpoint_format`). Reading is strict: a checkpoint loads
only when it has every tensor the model has, nothing else, and every shape equal; otherwise a
:class:`~resgen.errors.ResgenError` names each missing, unexpected or misshapen tensor (a
screenful, then a count). :mod:`resgen.weights.convert` builds on this; frameworks are imported
inside the functions, so ``import resgen.weights.checkpoint`` loads none.
"""

from __future__ import annotations

import io
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


def expanded_limit(params: int) -> int:
    """The most bytes a PyTorch checkpoint of a model with ``params`` parameters may expand to
    in memory: its weights in float64 four times over (the weights, an EMA copy, an optimizer's
    two moments), plus 64 MiB for buffers and the pickled structure."""
    return 32 * params + (64 << 20)


def read_torch(data: bytes, path: Path, kind: Kind, limit: int) -> dict[str, torch.Tensor]:
    """The state_dict a ``.pt``/``.pth``/``.safetensors`` file holds (bytes already read): dense
    real-valued CPU tensors only. A zip-format ``.pt`` must expand to at most ``limit`` bytes
    (:func:`expanded_limit`) and pass its checksums before anything is unpickled."""
    import torch

    if kind == "safetensors":
        from safetensors.torch import load

        try:
            return _checked_tensors(dict(load(data)), path)
        except ResgenError:
            raise
        except Exception as exc:  # safetensors raises its own error types
            raise _unreadable(path, "a safetensors file", exc) from None
    _check_zip(data, path, limit)
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (zip), EOFError, ...
        raise _unreadable(
            path, "a PyTorch checkpoint loadable with weights_only=True", exc
        ) from None
    return _checked_tensors(_state_dict(loaded, path), path)


def _check_zip(data: bytes, path: Path, limit: int) -> None:
    """A zip-format checkpoint (``torch.save``'s) must expand to at most ``limit`` bytes and
    every member's CRC must match: PyTorch checks neither. The old pickle format is not a zip
    and holds its tensors uncompressed, so its size is the file's."""
    import zipfile

    from resgen.files import size_text

    if not data.startswith(b"PK"):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
            if expanded > limit:
                message = (
                    f"expands to {expanded:,} bytes in memory, more than the {size_text(limit)} "
                    "a checkpoint of this spec's model can need"
                )
                raise ResgenError(Problem.at_file(path, message))
            damaged = archive.testzip()
    except ResgenError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, NotImplementedError, ...
        raise _unreadable(path, "a PyTorch checkpoint (a damaged zip file)", exc) from None
    if damaged is not None:
        message = f"damaged: the checksum (CRC) of its member {damaged} does not match"
        raise ResgenError(Problem.at_file(path, message))


def _tensor_refusal(tensor: torch.Tensor) -> str | None:
    """Why a tensor is not plain data resgen copies into a model, or None."""
    import torch

    if tensor.is_nested or tensor.layout != torch.strided:
        return f"a {str(tensor.layout).removeprefix('torch.')} tensor; only dense tensors load"
    if tensor.is_quantized:
        return "a quantized tensor; dequantize it (tensor.dequantize()) first"
    if tensor.device.type != "cpu":
        return f"a {tensor.device.type} tensor without data"
    if tensor.is_complex() or tensor.dtype == torch.bool:
        return f"{str(tensor.dtype).removeprefix('torch.')} values, not real numbers"
    return None


def _checked_tensors(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    refused = [(name, why) for name, t in state.items() if (why := _tensor_refusal(t)) is not None]
    if refused:
        head = f"{len(refused)} tensor(s) are not dense real-valued tensors; nothing written"
        raise _listed(path, head, refused)
    return state


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


class _H5Buffer(io.BytesIO):
    """An in-memory file for Keras' ``save_weights`` (which checks the name's suffix): weights
    are never written to disk before they are verified, so no scratch file can be left."""

    def __str__(self) -> str:
        return "memory.weights.h5"


def _keras_save(model: keras.Model) -> bytes:
    buffer = _H5Buffer()
    model.save_weights(buffer)
    return buffer.getvalue()


def _keras_layout(model: keras.Model) -> dict[str, Any]:
    """Where each weight of ``model`` lies in its ``.weights.h5`` (dataset path -> variable).

    Keras files address weights by layer class and position (``layers/conv2d_3/vars/0``), not
    by layer name; rather than mirror that scheme, this fills weight ``i`` with the value ``i``,
    saves (in memory), and reads the file back. The model's weights are overwritten.
    """
    import h5py
    import numpy as np

    weights = list(model.weights)
    for index, variable in enumerate(weights):
        variable.assign(np.full(tuple(variable.shape), index, dtype=variable.dtype))
    layout: dict[str, Any] = {}
    with h5py.File(io.BytesIO(_keras_save(model)), "r") as file:
        for name, dataset in _datasets(file).items():
            if dataset.size and dataset.dtype.kind == "f":
                index = int(np.asarray(dataset).flat[0])
                if 0 <= index < len(weights) and tuple(dataset.shape) == weights[index].shape:
                    layout[name] = weights[index]
    order = {id(variable): index for index, variable in enumerate(weights)}
    layout = dict(sorted(layout.items(), key=lambda item: order[id(item[1])]))  # model order
    if len(layout) != len(weights):
        raise RuntimeError(f"found {len(layout)} of {len(weights)} Keras weights in the file")
    return layout


def _datasets(file: Any) -> dict[str, Any]:
    """Every dataset reachable by hard links (soft and external links are not followed)."""
    import h5py

    found: dict[str, Any] = {}

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            found[name] = item

    file.visititems(visit)
    return found


def _dataset_refusal(dataset: Any) -> str | None:
    """Why an HDF5 dataset is not plain numbers stored contiguously inside the file, or None.
    Only metadata is read: external storage is never opened (it may name any file, a device or
    a FIFO), and a filtered (compressed) dataset is never expanded."""
    import h5py

    plist = dataset.id.get_create_plist()
    if plist.get_external_count():
        return "its data is stored outside the file (external storage)"
    layout = plist.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        return "a virtual dataset (its data comes from other files)"
    if layout not in (h5py.h5d.CONTIGUOUS, h5py.h5d.COMPACT):
        return "a chunked (possibly compressed) dataset; Keras writes contiguous ones"
    dtype = dataset.dtype
    if dtype.kind not in "fiu" or dtype.fields is not None or dtype.subdtype is not None:
        return f"holds {dtype} values, not real numbers"
    return None


def _open_h5(data: bytes, path: Path) -> Any:
    import h5py

    try:
        return h5py.File(io.BytesIO(data), "r")
    except Exception as exc:  # OSError from HDF5 for anything that is not one
        raise _unreadable(path, "an HDF5 file", exc) from None


def _check_datasets(path: Path, datasets: dict[str, Any]) -> None:
    """Refuse, listing them, the ``datasets`` (name -> dataset) :func:`_dataset_refusal`
    refuses; nothing is read but metadata."""
    try:
        refused = [(n, why) for n, d in datasets.items() if (why := _dataset_refusal(d))]
    except Exception as exc:  # a damaged header
        raise _unreadable(path, "a readable HDF5 file", exc) from None
    if refused:
        head = f"{len(refused)} dataset(s) are not plain numeric data in the file; nothing written"
        raise _listed(path, head, refused)


def _read_datasets(path: Path, datasets: dict[str, Any]) -> dict[str, Any]:
    """The values of ``datasets``, each checked by :func:`_check_datasets` first."""
    import numpy as np

    _check_datasets(path, datasets)
    try:
        return {name: np.asarray(dataset) for name, dataset in datasets.items()}
    except Exception as exc:  # data past the end of the file, a damaged block, ...
        raise _unreadable(path, "a readable HDF5 file", exc) from None


def load_keras(model: keras.Model, data: bytes, path: Path, name: str) -> None:
    """Load a ``.weights.h5`` strictly into ``model``; a :class:`ResgenError` naming every
    tensor that does not fit (by layer and variable name, or by the file's path), or every
    dataset that is not plain numbers in the file."""
    layout = _keras_layout(model)
    with _open_h5(data, path) as file:
        try:
            found = _datasets(file)
            shapes = {name: tuple(found[name].shape) for name in found}
        except Exception as exc:  # a damaged object header
            raise _unreadable(path, "a readable HDF5 file", exc) from None
        _check_datasets(path, found)
        expected = {name: tuple(v.shape) for name, v in layout.items()}
        mismatch = compare(expected, shapes)
        if mismatch:
            raise _renamed(mismatch, layout).error(path, name)
        values = _read_datasets(path, {name: found[name] for name in layout})
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


def keras_bytes(model: keras.Model) -> bytes:
    """The model's weights as a Keras ``.weights.h5`` file (made in memory)."""
    return _keras_save(model)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _names(node: Any, key: str, path: Path, where: str) -> list[str]:
    """The list of names a Keras 2 attribute holds (``layer_names``, ``weight_names``)."""
    import numpy as np

    where = f"{where}: " if where else ""
    try:
        value = node.attrs.get(key)
        array = None if value is None else np.asarray(value)
    except Exception as exc:  # an attribute of a type h5py cannot read
        message = f"{where}{key} unreadable: {_first_line(exc)}"
        raise ResgenError(Problem.at_file(path, message)) from None
    if array is None:
        raise ResgenError(Problem.at_file(path, f"{where}no {key} attribute"))
    if array.ndim != 1 or not all(isinstance(v, str | bytes) for v in array.tolist()):
        raise ResgenError(Problem.at_file(path, f"{where}{key} is not a list of names"))
    try:
        return [_text(v) for v in array.tolist()]
    except UnicodeDecodeError:
        raise ResgenError(Problem.at_file(path, f"{where}{key} is not UTF-8 text")) from None


def _member(group: Any, name: str, path: Path, where: str) -> Any:
    """``group``'s member at the relative path ``name``, through hard links only (a soft or
    external link may point anywhere, another file included)."""
    import h5py

    where = f"{where}: " if where else ""
    parts = name.split("/")
    if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ResgenError(Problem.at_file(path, f"{where}{name!r} is not a relative name"))
    node = group
    for part in parts:
        link = node.get(part, getlink=True) if isinstance(node, h5py.Group) else None
        if link is None:
            raise ResgenError(Problem.at_file(path, f"{where}{name!r} is not in the file"))
        if not isinstance(link, h5py.HardLink):
            message = f"{where}{name!r} is a link; only objects inside the file are read"
            raise ResgenError(Problem.at_file(path, message))
        node = node[part]
    return node


def load_keras_legacy(model: keras.Model, data: bytes, path: Path, name: str) -> None:
    """Load a Keras 2 style ``.h5`` (keras.applications' downloads, ``model.save("x.h5")``)
    strictly into ``model``, matching weights by layer name and variable name
    (``conv1_conv/kernel``); a :class:`ResgenError` names every tensor that does not fit."""
    import h5py

    with _open_h5(data, path) as file:
        whole = file.get("model_weights", getlink=True) is not None  # model.save("x.h5")
        root = _member(file, "model_weights", path, "") if whole else file
        if not isinstance(root, h5py.Group) or "layer_names" not in root.attrs:
            message = (
                "not a Keras 2 .h5 weights file (no layer_names; Keras 3 weights files end in "
                ".weights.h5)"
            )
            raise ResgenError(Problem.at_file(path, message))
        found: dict[str, Any] = {}
        for layer_name in _names(root, "layer_names", path, ""):
            layer = _member(root, layer_name, path, "layer_names")
            if not isinstance(layer, h5py.Group):
                raise ResgenError(Problem.at_file(path, f"layer {layer_name!r} is not a group"))
            for weight_name in _names(layer, "weight_names", path, f"layer {layer_name!r}"):
                dataset = _member(layer, weight_name, path, f"layer {layer_name!r}")
                if not isinstance(dataset, h5py.Dataset):
                    message = f"layer {layer_name!r}: {weight_name!r} is not a dataset"
                    raise ResgenError(Problem.at_file(path, message))
                variable = weight_name.rsplit("/", 1)[-1].split(":", 1)[0]
                found[f"{layer_name}/{variable}"] = dataset
        own = {f"{layer.name}/{v.name}": v for layer in model.layers for v in layer.weights}
        _check_datasets(path, found)
        mismatch = compare(
            {key: tuple(v.shape) for key, v in own.items()},
            {key: tuple(d.shape) for key, d in found.items()},
        )
        if mismatch:
            raise mismatch.error(path, name)
        values = _read_datasets(path, {key: found[key] for key in own})
    for key, variable in own.items():
        variable.assign(values[key])
