"""``resgen convert``: move a checkpoint between the PyTorch and Keras twins of one spec, verified.

The suffixes decide the direction: ``.pt``/``.pth`` (a PyTorch state_dict, read with
``weights_only=True``, bare or under ``state_dict`` or ``model``) and ``.safetensors`` are the
PyTorch side, ``.weights.h5`` (Keras 3 ``save_weights``) the Keras side. Both models are the
code ``resgen build`` writes for the spec, rendered and imported here; IN is loaded strictly
(every tensor the model has, nothing else, every shape equal), the weights move with
:mod:`resgen.weights.transfer`, and both models run one fixed random batch in eval mode. OUT is
written (atomically, never over an existing file unless ``force``) only when every stage agrees
within the criterion (:data:`CRITERION`): as close to the float64 answer as float32 PyTorch.

Reading, strict loading and writing of each format live in :mod:`resgen.weights.checkpoint`. User
mistakes (a suffix, a path, a checkpoint that does not fit) are a
:class:`~resgen.errors.ResgenError`; frameworks are imported only once a conversion starts, so
``import resgen.weights.convert`` loads none.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resgen.backends import Backend
from resgen.check.validate import load_planned
from resgen.errors import Problem, ResgenError, one_line
from resgen.files import read_regular, write_atomic_with
from resgen.plan.network import NetworkPlan
from resgen.spec.models import Spec
from resgen.weights.checkpoint import (
    CHECKPOINT_LIMIT,
    Format,
    checkpoint_format,
    expanded_limit,
    keras_bytes,
    load_keras,
    load_keras_legacy,
    load_torch,
    read_torch,
    shape_text,
    torch_bytes,
)

if TYPE_CHECKING:
    import keras
    import numpy as np
    import torch

FACTOR = 10.0  # the checked model may be this many times further from float64 than float32 torch
RELATIVE = 1e-5  # ... or this much of the output's scale, whichever is larger
BATCH = 2  # images in the verification batch
SEED = 0  # of the verification batch
CRITERION = (
    "|checked - float64| <= max({factor:g} x float32 err, {relative:g} x max |out|) "
    "at every point, all values finite"
)

# ---------------------------------------------------------------------------------------------
# verification
#
# The truth is the float64 answer of the source weights, computed by the PyTorch twin in float64
# (transfer copies float32 values exactly, so the twin holds the source's weights whichever side
# they came from). The checked model (Keras, or the PyTorch file written and read back) must be
# about as close to it as float32 PyTorch is: an absolute tolerance refuses correct conversions
# of networks whose activations are large, and cannot tell them from wrong ones.


@dataclass(frozen=True)
class Difference:
    """The checked model's output at one point of the network, against the float64 answer."""

    where: str
    shape: tuple[int, ...]  # one image's, channels first
    scale: float  # max abs value of the float64 answer
    max_abs: float  # the checked model's max abs difference from the float64 answer
    float32: float  # float32 PyTorch's own max abs difference from it

    @property
    def allowed(self) -> float:
        return max(FACTOR * self.float32, RELATIVE * self.scale)

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.scale, self.max_abs, self.float32))

    @property
    def ok(self) -> bool:
        return self.finite and self.max_abs <= self.allowed


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
    nonfinite: tuple[str, ...] = ()  # tensors holding NaN or infinity
    notes: tuple[str, ...] = ()  # names read from another dialect, tensors adapted or reset

    @property
    def overall(self) -> float:
        """The checked model's largest difference from the float64 answer (NaN if any is)."""
        gaps = [d.max_abs for d in self.differences]
        return float("nan") if any(math.isnan(g) for g in gaps) else max(gaps, default=0.0)

    @property
    def ok(self) -> bool:
        return not self.nonfinite and all(d.ok for d in self.differences)

    @property
    def reason(self) -> str:
        """Why OUT was not written (empty when ``ok``)."""
        if self.nonfinite:
            return f"{len(self.nonfinite)} tensor(s) hold NaN or infinity"
        bad = [d.where for d in self.differences if not d.finite]
        if bad:
            return f"NaN or infinity at {', '.join(bad)}"
        bad = [d.where for d in self.differences if not d.ok]
        return f"outside the criterion at {', '.join(bad)}" if bad else ""

    def lines(self) -> list[str]:
        out = [
            f"{self.spec}: {self.source} ({self.source_format.description}) -> "
            f"{self.target} ({self.target_format.description})",
            *self.notes,
            f"loaded {self.tensors} tensors strictly; "
            f"random batch {shape_text(self.batch)}, eval mode; against the float64 answer",
            f"  {'where':<24} {'output':<18} {'max |out|':>10} {'float32 err':>12} "
            f"{'checked err':>12} {'allowed':>10}",
        ]
        for d in self.differences:
            shape = shape_text(d.shape)
            out.append(
                f"  {d.where:<24} {shape:<18} {d.scale:>10.4g} {d.float32:>12.3e} "
                f"{d.max_abs:>12.3e} {d.allowed:>10.3e}{'' if d.ok else '  <-'}"
            )
        if self.nonfinite:
            shown = ", ".join(self.nonfinite[:5]) + (", ..." if len(self.nonfinite) > 5 else "")
            out.append(f"  NaN or infinity in {len(self.nonfinite)} tensor(s): {shown}")
        criterion = CRITERION.format(factor=FACTOR, relative=RELATIVE)
        out.append(f"  criterion: {criterion}: {'ok' if self.ok else 'DIFFERENT'}")
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

    # The stem's output is the output of the layer before the first block's (the model's
    # layers are in graph order); the block's first layer may read only part of it (the
    # paths of a selective-kernel conv with split_input read a split of it).
    first = block_layers(plan.stages[0].blocks[0].keras_name)[0]
    outputs = [model.layers[model.layers.index(first) - 1].output]
    outputs += [block_layers(s.blocks[-1].keras_name)[-1].output for s in plan.stages]
    taps = keras.Model(model.inputs, [*outputs, model.outputs[0]])
    results = taps([x.transpose(0, 2, 3, 1)], training=False)
    arrays = [keras.ops.convert_to_numpy(r) for r in results]
    return [a.transpose(0, 3, 1, 2) if a.ndim == 4 else a for a in arrays]


def differences(
    labels: list[str],
    exact: list[np.ndarray],
    float32: list[np.ndarray],
    checked: list[np.ndarray],
) -> tuple[Difference, ...]:
    """Each point's float64 answer (``exact``), float32 PyTorch's and the checked model's."""
    import numpy as np

    def error(a: np.ndarray, b: np.ndarray) -> float:
        with np.errstate(invalid="ignore", over="ignore"):
            gap = np.abs(a.astype(np.float64) - b.astype(np.float64))
        return float("nan") if not np.isfinite(gap).all() else float(gap.max(initial=0.0))

    def scale(a: np.ndarray) -> float:
        return float("nan") if not np.isfinite(a).all() else float(np.abs(a).max(initial=0.0))

    return tuple(
        Difference(
            where=label,
            shape=tuple(e.shape[1:]),
            scale=scale(e),
            max_abs=error(c, e),
            float32=error(f, e),
        )
        for label, e, f, c in zip(labels, exact, float32, checked, strict=True)
    )


def float64_taps(model: torch.nn.Module, plan: NetworkPlan, x: np.ndarray) -> list[np.ndarray]:
    """:func:`torch_taps` of a float64 copy of ``model``: the exact answer of its weights."""
    import copy

    import numpy as np

    return torch_taps(copy.deepcopy(model).double(), plan, x.astype(np.float64))


def nonfinite_tensors(model: torch.nn.Module) -> tuple[str, ...]:
    """The names of ``model``'s floating-point tensors that hold NaN or infinity."""
    import torch

    return tuple(
        name
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
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
    for folder in target.parents:  # the nearest that exists must be a folder
        if os.path.lexists(folder):
            if not folder.is_dir():
                message = f"cannot write OUT there: {folder} is not a folder"
                raise ResgenError(Problem.at_file(target, message))
            break
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
    adapt: bool = False  # resgen.weights.adapt: fit the stem's input channels, reset the classifier

    @property
    def expanded_limit(self) -> int:
        """The most bytes IN may expand to in memory (see :func:`expanded_limit`)."""
        return expanded_limit(self.plan.params)


def prepare(
    spec_path: Path, source: Path, target: Path, *, force: bool = False, adapt: bool = False
) -> Request:
    """Every check that needs no framework: suffixes, OUT, the spec, IN read (at most what a
    checkpoint of the spec's model can need, :func:`expanded_limit`, and 4 GiB)."""
    source_format, target_format = check_paths(source, target, force=force)
    if adapt and source_format.side != "torch":
        raise ResgenError(Problem.at_file(source, "--adapt reads PyTorch checkpoints only"))
    planned = load_planned(spec_path)
    limit = min(CHECKPOINT_LIMIT, expanded_limit(planned.plan.params))  # what the model can hold
    data = read_regular(source, limit, what="checkpoint")
    return Request(
        spec_path,
        planned.spec,
        planned.plan,
        source,
        target,
        source_format,
        target_format,
        data,
        adapt,
    )


def convert(
    spec_path: Path, source: Path, target: Path, *, force: bool = False, adapt: bool = False
) -> Report:
    """Read ``source``, move its weights into the other twin of the spec, verify, and write
    ``target`` when every compared point meets :data:`CRITERION` (check ``ok``).

    Raises :class:`ResgenError` for a bad path, suffix, spec or checkpoint (nothing written).
    """
    return run(prepare(spec_path, source, target, force=force, adapt=adapt))


def run(request: Request) -> Report:
    """Carry out a prepared conversion: OUT is written (atomically) only when ``ok``. Nothing
    else is written: the models are imported from memory and the Keras file is made there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libraries' notes (deprecations, NaN arithmetic) are
        report, payload = _convert(request)  # noise here: the report states what matters
    if report.ok:
        write_atomic_with(request.target, lambda stream: stream.write(payload))
    return report


def _convert(request: Request) -> tuple[Report, bytes]:
    import numpy as np

    from resgen.weights.adapt import fit
    from resgen.weights.transfer import keras_to_torch, torch_to_keras

    plan, source, target = request.plan, request.source, request.target
    source_format, target_format = request.source_format, request.target_format
    spec = request.spec
    shape = (BATCH, spec.input.channels, spec.input.size, spec.input.size)
    x = np.random.default_rng(SEED).standard_normal(shape).astype(np.float32)
    labels = _points(plan, (source_format.side, target_format.side))

    def build(backend: Backend) -> Any:
        return _factory(request, backend)()

    torch_model = build("torch")
    notes: list[str] = []
    if source_format.side == "keras":
        keras_model = build("keras")
        if source_format.kind == "keras_legacy":
            load_keras_legacy(keras_model, request.data, source, spec.name)
        else:
            load_keras(keras_model, request.data, source, spec.name)
        tensors = len(keras_model.weights)
        keras_to_torch(keras_model, torch_model)
        checked = keras_taps(keras_model, plan, x)  # the source, against its float64 answer
        payload = torch_bytes(torch_model, target_format.kind)
    else:
        state = read_torch(request.data, source, source_format.kind, request.expanded_limit)
        state, notes = fit(state, torch_model.state_dict(), plan, adapt=request.adapt)
        load_torch(torch_model, state, source, spec.name)
        tensors = len(state)
        if target_format.side == "keras":
            keras_model = build("keras")
            torch_to_keras(torch_model, keras_model)
            checked = keras_taps(keras_model, plan, x)
            payload = keras_bytes(keras_model)
        else:  # a new format: check the bytes written load back to the same model
            payload = torch_bytes(torch_model, target_format.kind)
            reread = build("torch")
            again = read_torch(payload, target, target_format.kind, request.expanded_limit)
            load_torch(reread, again, target, spec.name)
            checked = torch_taps(reread, plan, x)
    found = differences(
        labels, float64_taps(torch_model, plan, x), torch_taps(torch_model, plan, x), checked
    )
    report = Report(
        spec=spec.name,
        source=source,
        target=target,
        source_format=source_format,
        target_format=target_format,
        tensors=tensors,
        batch=shape,
        differences=found,
        nonfinite=nonfinite_tensors(torch_model),
        notes=tuple(notes),
    )
    return report, payload


def _factory(request: Request, backend: Backend) -> Any:
    """The spec's generated factory for ``backend``: the text ``build`` writes, imported from
    memory (no scratch file to leave behind)."""
    from resgen.rendering.generated import model_text

    spec = request.spec
    name = f"_resgen_convert_{backend}_{spec.name}"
    module = types.ModuleType(name)
    module.__file__ = f"<resgen convert: {backend}/{spec.name}.py>"
    sys.modules[name] = module
    code = compile(
        model_text(request.spec_path, spec, backend, request.plan), module.__file__, "exec"
    )
    exec(code, module.__dict__)  # resgen's own generated text, as build writes it
    return getattr(module, spec.name)
