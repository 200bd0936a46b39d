"""``resgen convert``: move a checkpoint between the PyTorch and Keras twins of one spec, verified.

The suffixes decide the direction: ``.pt``/``.pth`` (a PyTorch state_dict, read with
``weights_only=True``, bare or under ``state_dict`` or ``model``) and ``.safetensors`` are the
PyTorch side, ``.weights.h5`` (Keras 3 ``save_weights``) the Keras side. Both models are the
code ``resgen build`` writes for the spec, rendered and imported here; IN is loaded strictly
(every tensor the model has, nothing else, every shape equal), the weights move with
:mod:`resgen.transfer`, and both models run one fixed random batch in eval mode. OUT is written
(atomically, never over an existing file unless ``force``) only when every stage agrees within
:data:`TOLERANCE`.

Reading, strict loading and writing of each format live in :mod:`resgen.checkpoint`. User
mistakes (a suffix, a path, a checkpoint that does not fit) are a
:class:`~resgen.errors.ResgenError`; frameworks are imported only once a conversion starts, so
``import resgen.convert`` loads none.
"""

from __future__ import annotations

import importlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resgen.backends import Backend
from resgen.checkpoint import (
    CHECKPOINT_LIMIT,
    Format,
    checkpoint_format,
    keras_bytes,
    load_keras,
    load_keras_legacy,
    load_torch,
    read_torch,
    shape_text,
    torch_bytes,
)
from resgen.errors import Problem, ResgenError, one_line
from resgen.files import read_regular, write_atomic_with
from resgen.plan import NetworkPlan
from resgen.spec import Spec
from resgen.validate import load_planned

if TYPE_CHECKING:
    import keras
    import numpy as np
    import torch

TOLERANCE = 1e-4  # max abs difference allowed at any stage, eval mode
BATCH = 2  # images in the verification batch
SEED = 0  # of the verification batch

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
            f"loaded {self.tensors} tensors strictly; "
            f"random batch {shape_text(self.batch)}, eval mode",
            f"  {'where':<24} {'output':<18} {'max |out|':>10} {'max abs diff':>13}",
        ]
        for d in self.differences:
            shape = shape_text(d.shape)
            out.append(f"  {d.where:<24} {shape:<18} {d.scale:>10.4g} {d.max_abs:>13.3e}")
        verdict = "ok" if self.ok else "DIFFERENT"
        out.append(
            f"  {'overall':<24} {'':<18} {'':>10} {self.overall:>13.3e}  "
            f"(tolerance {self.tolerance:.0e}: {verdict})"
        )
        return out


def _points(plan: NetworkPlan, pair: tuple[Backend, Backend]) -> list[str]:
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
    if target_format.kind == "keras_legacy":
        raise ResgenError(Problem.at_file(target, "write Keras weights as .weights.h5 (Keras 3)"))
    if source_format.side == target_format.side == "keras":
        raise ResgenError(
            Problem.at_file(target, "IN and OUT are both Keras weights: nothing to convert")
        )
    if target.is_dir():
        raise ResgenError(Problem.at_file(target, "OUT is a folder"))
    if target.exists() and not force:
        raise ResgenError(Problem.at_file(target, "OUT exists; pass --force to replace it"))
    return source_format, target_format


@dataclass(frozen=True)
class Request:
    """A conversion whose paths, spec and IN bytes are checked; no framework loaded yet."""

    spec_path: Path
    spec: Spec
    plan: NetworkPlan
    source: Path
    target: Path
    source_format: Format
    target_format: Format
    data: bytes


def prepare(spec_path: Path, source: Path, target: Path, *, force: bool = False) -> Request:
    """Every check that needs no framework: suffixes, OUT, the spec, IN read (bounded)."""
    source_format, target_format = check_paths(source, target, force=force)
    planned = load_planned(spec_path)
    data = read_regular(source, CHECKPOINT_LIMIT, what="checkpoint")
    return Request(
        spec_path, planned.spec, planned.plan, source, target, source_format, target_format, data
    )


def convert(spec_path: Path, source: Path, target: Path, *, force: bool = False) -> Report:
    """Read ``source``, move its weights into the other twin of the spec, verify, and write
    ``target`` when every compared point agrees within :data:`TOLERANCE` (check ``ok``).

    Raises :class:`ResgenError` for a bad path, suffix, spec or checkpoint (nothing written).
    """
    return run(prepare(spec_path, source, target, force=force))


def run(request: Request) -> Report:
    """Carry out a prepared conversion: OUT is written (atomically) only when ``ok``."""
    with tempfile.TemporaryDirectory(prefix="resgen-convert-") as folder:
        report, payload = _convert(request, Path(folder))
    if report.ok:
        write_atomic_with(request.target, lambda stream: stream.write(payload))
    return report


def _convert(request: Request, scratch: Path) -> tuple[Report, bytes]:
    import numpy as np

    from resgen.transfer import keras_to_torch, torch_to_keras

    plan, source, target = request.plan, request.source, request.target
    source_format, target_format = request.source_format, request.target_format
    spec = request.spec
    shape = (BATCH, spec.input.channels, spec.input.size, spec.input.size)
    x = np.random.default_rng(SEED).standard_normal(shape).astype(np.float32)
    labels = _points(plan, (source_format.side, target_format.side))

    def build(backend: Backend) -> Any:
        return _factory(request, backend, scratch)()

    torch_model = build("torch")
    if source_format.side == "keras":
        keras_model = build("keras")
        if source_format.kind == "keras_legacy":
            load_keras_legacy(keras_model, request.data, source, spec.name)
        else:
            load_keras(keras_model, request.data, source, scratch, spec.name)
        tensors = len(keras_model.weights)
        keras_to_torch(keras_model, torch_model)
        found = differences(
            labels, keras_taps(keras_model, plan, x), torch_taps(torch_model, plan, x)
        )
        payload = torch_bytes(torch_model, target_format.kind)
    else:
        state = read_torch(request.data, source, source_format.kind)
        load_torch(torch_model, state, source, spec.name)
        tensors = len(state)
        reference = torch_taps(torch_model, plan, x)
        if target_format.side == "keras":
            keras_model = build("keras")
            torch_to_keras(torch_model, keras_model)
            found = differences(labels, reference, keras_taps(keras_model, plan, x))
            payload = keras_bytes(keras_model, scratch)
        else:  # a new format: check the bytes written load back to the same model
            payload = torch_bytes(torch_model, target_format.kind)
            reread = build("torch")
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


def _factory(request: Request, backend: Backend, scratch: Path) -> Any:
    """The spec's generated factory for ``backend``: the text ``build`` writes, imported."""
    from resgen.generated import import_file, write_model

    spec = request.spec
    path = scratch / backend / f"{spec.name}.py"
    if not path.exists():
        write_model(request.spec_path, spec, backend, scratch, request.plan)
    module = import_file(path, f"_resgen_convert_{backend}_{spec.name}")
    return getattr(module, spec.name)
