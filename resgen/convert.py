"""``resgen convert``: move a checkpoint between the PyTorch and Keras twins of one spec, verified.

The suffixes decide the direction: ``.pt``/``.pth`` (a PyTorch state_dict, read with
``weights_only=True``, bare or under ``state_dict`` or ``model``) and ``.safetensors`` are the
PyTorch side, ``.weights.h5`` (Keras 3 ``save_weights``) the Keras side. Both models are the
code ``resgen build`` writes for the spec, rendered and imported here; IN is loaded strictly
(every tensor the model has, nothing else, every shape equal), the weights move with
:mod:`resgen.transfer`, and both models run one fixed random batch in eval mode. OUT is written
(atomically, never over an existing file unless ``force``) only when every stage agrees within
:data:`TOLERANCE`.

User mistakes (a suffix, a path, a checkpoint that does not fit) are a
:class:`~resgen.errors.ResgenError`; frameworks are imported only once a conversion starts, so
``import resgen.convert`` loads none.
"""

from __future__ import annotations

import importlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from resgen.errors import Problem, ResgenError, one_line
from resgen.files import write_atomic_with
from resgen.plan import NetworkPlan, build_plan
from resgen.validate import load_spec

if TYPE_CHECKING:
    import keras
    import numpy as np
    import torch

TOLERANCE = 1e-4  # max abs difference allowed at any stage, eval mode
CHECKPOINT_LIMIT = 4 << 30  # bytes; resnetrs420 is 0.8 GB, with an optimizer's state ~2.4 GB
MAX_LISTED = 20  # problem lines shown for a checkpoint that does not fit; then a count
BATCH = 2  # images in the verification batch
SEED = 0  # of the verification batch

Side = Literal["torch", "keras"]
Kind = Literal["pickle", "safetensors", "keras"]


@dataclass(frozen=True)
class Format:
    """What a checkpoint path holds, from its suffix."""

    side: Side
    kind: Kind

    @property
    def description(self) -> str:
        return {
            "pickle": "PyTorch state_dict",
            "safetensors": "PyTorch safetensors",
            "keras": "Keras weights",
        }[self.kind]


SUFFIXES = ".pt, .pth, .safetensors (PyTorch) or .weights.h5 (Keras)"


def checkpoint_format(path: Path) -> Format:
    """The format its suffix names; a :class:`ResgenError` for any other suffix."""
    name = path.name.lower()
    if name.endswith(".weights.h5"):
        return Format("keras", "keras")
    if name.endswith((".pt", ".pth")):
        return Format("torch", "pickle")
    if name.endswith(".safetensors"):
        return Format("torch", "safetensors")
    hint = " (Keras 3 weights files end in .weights.h5)" if name.endswith(".h5") else ""
    raise ResgenError(Problem.at_file(path, f"unknown checkpoint suffix: use {SUFFIXES}{hint}"))


# ---------------------------------------------------------------------------------------------
# reading IN (switch to resgen.files.read_regular once the harden branch lands: same contract)


def _read_regular(path: Path, limit: int, *, what: str) -> bytes:
    """The bytes of the regular file ``path`` (links followed), at most ``limit`` of them, read
    without blocking; anything else (a folder, a FIFO, a device, a socket, a missing file, a
    file over ``limit``) is a :class:`ResgenError` at the file's line 1."""

    def refuse(message: str) -> ResgenError:
        return ResgenError(Problem.at_file(path, f"cannot read the {what}: {message}"))

    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # never open a FIFO or a device
            raise refuse("it is not a regular file")
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise refuse("no such file") from None
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped since the check
            raise refuse("it is not a regular file")
        if st.st_size > limit:
            raise refuse(f"it is larger than {limit >> 20} MiB")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 24))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise refuse(f"it is larger than {limit >> 20} MiB")
    return data


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
            *((name, f"missing (the model's is {_shape(shape)})") for name, shape in self.missing),
            *(
                (name, f"unexpected ({_shape(shape)}, not in {model})")
                for name, shape in self.unexpected
            ),
            *(
                (name, f"shape {_shape(theirs)}, the model's is {_shape(ours)}")
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
    return _Ordered(problems)


class _Ordered(ResgenError):
    """A :class:`ResgenError` whose problems stay in the given order (model order, not sorted)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems
        self.args = ("\n".join(str(p) for p in problems),)


def _tensor_problem(path: Path, name: str, message: str) -> Problem:
    located = Problem.at_file(path, message)
    return Problem(located.file, 1, 1, one_line(name), located.message)


def _shape(shape: tuple[int, ...]) -> str:
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


# ---------------------------------------------------------------------------------------------
# verification


@dataclass(frozen=True)
class Difference:
    """The two models' outputs at one point of the network."""

    where: str
    shape: tuple[int, ...]  # one image's, channels first
    scale: float  # max abs value of the reference output
    max_abs: float


@dataclass(frozen=True)
class Report:
    """What a conversion did and how closely the two models agree."""

    spec: str
    source: Path
    target: Path
    source_format: Format
    target_format: Format
    tensors: int
    batch: tuple[int, ...]
    differences: tuple[Difference, ...]
    tolerance: float

    @property
    def overall(self) -> float:
        return max(d.max_abs for d in self.differences)

    @property
    def ok(self) -> bool:
        return self.overall <= self.tolerance

    def lines(self) -> list[str]:
        out = [
            f"{self.spec}: {self.source} ({self.source_format.description}) -> "
            f"{self.target} ({self.target_format.description})",
            f"loaded {self.tensors} tensors strictly; random batch {_shape(self.batch)}, eval mode",
            f"  {'where':<24} {'output':<18} {'max |out|':>10} {'max abs diff':>13}",
        ]
        for d in self.differences:
            out.append(f"  {d.where:<24} {_shape(d.shape):<18} {d.scale:>10.4g} {d.max_abs:>13.3e}")
        verdict = "ok" if self.ok else "DIFFERENT"
        out.append(
            f"  {'overall':<24} {'':<18} {'':>10} {self.overall:>13.3e}  "
            f"(tolerance {self.tolerance:.0e}: {verdict})"
        )
        return out


def _points(plan: NetworkPlan, pair: tuple[Side, Side]) -> list[str]:
    """Labels of the points compared: the stem, each stage, the logits."""
    both = pair == ("torch", "keras") or pair == ("keras", "torch")
    stages = [f"{s.torch_name} / {s.keras_name}" if both else s.torch_name for s in plan.stages]
    return ["stem", *stages, "logits"]


def torch_taps(model: torch.nn.Module, plan: NetworkPlan, x: np.ndarray) -> list[np.ndarray]:
    """The stem's output, each stage's and the logits, for NCHW ``x`` in eval mode."""
    import torch

    captured: list[torch.Tensor] = []
    first = model.get_submodule(plan.stages[0].blocks[0].torch_name)
    hooks = [first.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))]
    for stage in plan.stages:
        last = model.get_submodule(stage.blocks[-1].torch_name)
        hooks.append(last.register_forward_hook(lambda _m, _a, out: captured.append(out)))
    model.eval()
    try:
        with torch.no_grad():
            logits = model(torch.from_numpy(x))
    finally:
        for hook in hooks:
            hook.remove()
    return [t.detach().cpu().numpy() for t in (*captured, logits)]


def keras_taps(model: keras.Model, plan: NetworkPlan, x: np.ndarray) -> list[np.ndarray]:
    """The same points from the Keras model, for NCHW ``x``, returned channels first."""
    import keras

    def block_layers(keras_name: str) -> list[Any]:
        return [layer for layer in model.layers if layer.name.startswith(keras_name + "_")]

    outputs = [block_layers(plan.stages[0].blocks[0].keras_name)[0].input]
    outputs += [block_layers(s.blocks[-1].keras_name)[-1].output for s in plan.stages]
    taps = keras.Model(model.inputs, [*outputs, model.outputs[0]])
    results = taps([x.transpose(0, 2, 3, 1)], training=False)
    arrays = [keras.ops.convert_to_numpy(r) for r in results]
    return [a.transpose(0, 3, 1, 2) if a.ndim == 4 else a for a in arrays]


def differences(
    labels: list[str], reference: list[np.ndarray], other: list[np.ndarray]
) -> tuple[Difference, ...]:
    import numpy as np

    return tuple(
        Difference(
            where=label,
            shape=tuple(a.shape[1:]),
            scale=float(np.abs(a).max()),
            max_abs=float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()),
        )
        for label, a, b in zip(labels, reference, other, strict=True)
    )


# ---------------------------------------------------------------------------------------------
# the conversion


FRAMEWORKS = {
    "numpy": "numpy",
    "torch": "torch (pip install 'resgen[torch]')",
    "keras": "keras with a backend (pip install 'resgen[tensorflow]', 'resgen[jax]', or "
    "'resgen[keras,torch]' with KERAS_BACKEND=torch)",
    "h5py": "h5py (pip install 'resgen[keras]')",
    "safetensors": "safetensors (pip install 'resgen[torch]')",
}


def missing_framework() -> str | None:
    """What ``convert`` needs and cannot import (Keras without its backend fails here too),
    with the cause; None when everything imports."""
    for module, need in FRAMEWORKS.items():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return f"{need}: {one_line(str(exc))}"
    return None


def check_paths(source: Path, target: Path, *, force: bool) -> tuple[Format, Format]:
    """Formats of IN and OUT; refuses a pair that converts nothing and an OUT that exists."""
    source_format, target_format = checkpoint_format(source), checkpoint_format(target)
    if source_format.side == target_format.side == "keras":
        raise ResgenError(
            Problem.at_file(target, "IN and OUT are both Keras weights: nothing to convert")
        )
    if target.is_dir():
        raise ResgenError(Problem.at_file(target, "OUT is a folder"))
    if target.exists() and not force:
        raise ResgenError(Problem.at_file(target, "OUT exists; pass --force to replace it"))
    return source_format, target_format


def convert(spec_path: Path, source: Path, target: Path, *, force: bool = False) -> Report:
    """Read ``source``, move its weights into the other twin of the spec, verify, and write
    ``target`` when every compared point agrees within :data:`TOLERANCE` (check ``ok``).

    Raises :class:`ResgenError` for a bad path, suffix, spec or checkpoint (nothing written).
    """
    source_format, target_format = check_paths(source, target, force=force)
    spec = load_spec(spec_path)
    data = _read_regular(source, CHECKPOINT_LIMIT, what="checkpoint")
    plan = build_plan(spec)
    with tempfile.TemporaryDirectory(prefix="resgen-convert-") as folder:
        scratch = Path(folder)
        report, payload = _convert(
            spec_path, plan, data, source, target, source_format, target_format, scratch
        )
    if report.ok:
        write_atomic_with(target, lambda stream: stream.write(payload))
    return report


def _convert(
    spec_path: Path,
    plan: NetworkPlan,
    data: bytes,
    source: Path,
    target: Path,
    source_format: Format,
    target_format: Format,
    scratch: Path,
) -> tuple[Report, bytes]:
    import numpy as np

    from resgen.transfer import keras_to_torch, torch_to_keras

    spec = plan.spec
    shape = (BATCH, spec.input.channels, spec.input.size, spec.input.size)
    x = np.random.default_rng(SEED).standard_normal(shape).astype(np.float32)
    labels = _points(plan, (source_format.side, target_format.side))
    torch_model = _factory(spec_path, plan, "torch", scratch)()
    if source_format.side == "keras":
        keras_model = _factory(spec_path, plan, "keras", scratch)()
        load_keras(keras_model, data, source, scratch, spec.name)
        tensors = len(keras_model.weights)
        keras_to_torch(keras_model, torch_model)
        found = differences(
            labels, keras_taps(keras_model, plan, x), torch_taps(torch_model, plan, x)
        )
        payload = torch_bytes(torch_model, target_format.kind)
    else:
        state = read_torch(data, source, source_format.kind)
        load_torch(torch_model, state, source, spec.name)
        tensors = len(state)
        reference = torch_taps(torch_model, plan, x)
        if target_format.side == "keras":
            keras_model = _factory(spec_path, plan, "keras", scratch)()
            torch_to_keras(torch_model, keras_model)
            found = differences(labels, reference, keras_taps(keras_model, plan, x))
            payload = keras_bytes(keras_model, scratch)
        else:  # a new format: check the bytes written load back to the same model
            payload = torch_bytes(torch_model, target_format.kind)
            reread = _factory(spec_path, plan, "torch", scratch)()
            load_torch(reread, read_torch(payload, target, target_format.kind), target, spec.name)
            found = differences(labels, reference, torch_taps(reread, plan, x))
    report = Report(
        spec=spec.name,
        source=source,
        target=target,
        source_format=source_format,
        target_format=target_format,
        tensors=tensors,
        batch=shape,
        differences=found,
        tolerance=TOLERANCE,
    )
    return report, payload


def _factory(spec_path: Path, plan: NetworkPlan, backend: Side, scratch: Path) -> Any:
    """The spec's generated factory for ``backend``: the text ``build`` writes, imported."""
    from resgen.train.generated import import_file, model_text

    path = scratch / backend / f"{plan.spec.name}.py"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(model_text(spec_path, plan.spec, backend), encoding="utf-8")
    module = import_file(path, f"convert_{backend}_{plan.spec.name}")
    return getattr(module, plan.spec.name)
