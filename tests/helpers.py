"""Helpers the test modules share: where things are in the repository, importing and building a
generated file, running Python, ``resgen`` and ruff in a subprocess, writing YAML that means
exactly a given value, and the state_dict a plan names.

Test modules import it as ``from helpers import ...`` (pytest puts ``tests/`` on ``sys.path``).
Weights that look trained live in :mod:`checkpoints`. Nothing here imports a framework.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
"""The repository root (the folder holding ``pyproject.toml``)."""

SPECS = REPO / "specs"
GENERATED = REPO / "generated"
DATA = REPO / "tests" / "data"
"""Facts the tests compare with (listings of torchvision and timm), copied into the repository."""

RUFF = Path(sys.executable).with_name("ruff")
RESGEN = Path(sys.executable).with_name("resgen")


def shipped_specs() -> dict[str, Path]:
    """Every shipped spec by name: ``specs/<name>.yaml``, flat, as ``resgen build specs/``
    finds them."""
    return {path.stem: path for path in sorted(SPECS.glob("*.yaml"))}


def spec_path(name: str) -> Path:
    """The shipped spec named ``name``: ``specs/<name>.yaml``."""
    return SPECS / f"{name}.yaml"


NOT_LAYOUT = ("name", "description", "extends", "family", "pretrained")
"""Spec fields that do not shape the network: a layout is everything else but block counts."""


def layout_of(spec: Any) -> str:
    """A spec's layout: everything it says but :data:`NOT_LAYOUT`, its block counts and its input
    size (specs of one layout differ only in depth and the default size their factories print,
    so the cheapest stands for the rest: the round trips and traces run at a size of their own,
    e.g. resnest101e, 200e and 269e at 256, 320 and 416 px are one layout)."""
    data = spec.model_dump(mode="json")
    data = {key: value for key, value in data.items() if key not in NOT_LAYOUT}
    data["input"] = {k: v for k, v in data["input"].items() if k != "size"}
    data["stages"] = [{k: v for k, v in stage.items() if k != "blocks"} for stage in data["stages"]]
    if data.get("regnet") is not None:
        # A rule's numbers, like widths, change only numbers in the same code: a RegNet's
        # layout is its block's knobs but the group width and the bottleneck ratio.
        data["regnet"] = "generated"
        data["block"] = {
            k: v for k, v in data["block"].items() if k not in ("group_width", "bottle_ratio")
        }
    if data.get("final_conv"):  # its width, like a stage's, changes only a number
        data["final_conv"] = "width"
    return json.dumps(data, sort_keys=True)


FAMILY_LINE = re.compile(r"^family: (\w+)$", re.M)


def spec_family(path: Path) -> str:
    """The ``family:`` a shipped spec declares (every shipped spec declares one)."""
    match = FAMILY_LINE.search(path.read_text(encoding="utf-8"))
    assert match, f"{path} declares no family"
    return match.group(1)


def copy_families(families: tuple[str, ...], specs: Path) -> None:
    """Copy the shipped specs of ``families`` (with the bases they extend) into ``specs``."""
    specs.mkdir(parents=True, exist_ok=True)
    for path in shipped_specs().values():
        if spec_family(path) in families:
            shutil.copy(path, specs / path.name)


LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")
"""One user-facing problem line: ``file:line:col: [field: ]message``."""


def ruff_clean(*paths: Path) -> None:
    """Assert ``ruff check`` and ``ruff format --check`` pass on ``paths`` under ruff's defaults
    (``--isolated``: a vendored file meets a project's ruff, not resgen's configuration)."""
    for args in (["check", "--isolated"], ["format", "--check", "--isolated"]):
        done = subprocess.run(
            [str(RUFF), *args, *map(str, paths)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def yaml_string(text: str) -> str:
    """A YAML double-quoted scalar holding exactly ``text``: quotes, backslashes and everything
    outside printable ASCII escaped, so no byte of the file is a control character."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def yaml_key(key: str) -> str:
    return key if re.fullmatch(r"[a-z_][a-z0-9_]*", key) else yaml_string(key)


def yaml_value(value: Any) -> str:
    """``value`` (None, bool, int, finite float, str, list, dict) in YAML 1.2 flow style."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # finite: 0.1, 1e-05, 2.5e+20 are YAML 1.2 floats
    if isinstance(value, str):
        return yaml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_key(k)}: {yaml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_yaml(spec: dict[str, Any]) -> str:
    """A spec mapping as YAML: block style at the top, one stage per line, flow style below."""
    lines = []
    for key, value in spec.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{yaml_key(key)}:")
            lines += [f"  - {yaml_value(item)}" for item in value]
        else:
            lines.append(f"{yaml_key(key)}: {yaml_value(value)}")
    return "\n".join(lines) + "\n"


_counter = itertools.count()


def import_file(path: Path, prefix: str = "generated", register: bool = False) -> ModuleType:
    """Import one file (a generated model, a script) under a fresh module name; ``register``
    puts it in ``sys.modules``, which pickling a whole model needs."""
    from resgen.rendering.generated import import_file as import_path

    return import_path(path, f"{prefix}_{next(_counter)}", register=register)


def generated_path(backend: str, name: str, folder: Path = GENERATED) -> Path:
    """``folder/backend/name.py``: by default the committed file users vendor."""
    return folder / backend / f"{name}.py"


def render_generated(
    spec: Any, folder: Path, backends: tuple[str, ...] = ("torch", "keras")
) -> None:
    """Render a validated spec into ``folder/<backend>/<name>.py`` for each backend, as
    ``resgen build --out folder`` lays files out (read back with :func:`generated_module`)."""
    from resgen.rendering.generated import write_model

    for backend in backends:
        write_model(REPO / "specs" / f"{spec.name}.yaml", spec, backend, folder)


def generated_module(backend: str, name: str, folder: Path = GENERATED) -> ModuleType:
    """The generated file of spec ``name`` for ``backend``, imported from its bytes by path (and
    registered in ``sys.modules``, so that a whole model pickles)."""
    return import_file(generated_path(backend, name, folder), f"generated_{backend}_{name}", True)


def generated_factory(backend: str, name: str, folder: Path = GENERATED) -> Any:
    """The factory function of a generated file (named after its spec)."""
    return getattr(generated_module(backend, name, folder), name)


def build_generated(backend: str, name: str, folder: Path = GENERATED, **kwargs: Any) -> Any:
    """A model built by a generated file's factory with ``kwargs``."""
    return generated_factory(backend, name, folder)(**kwargs)


def build_to_load(factory: Any, **kwargs: Any) -> Any:
    """A Keras model from ``factory(**kwargs)`` for a caller that loads every variable next
    (``load_weights``). On JAX its variables are left uninitialised: there each initialiser
    compiles a random op per weight shape, some 5-10 s of CPU a network, all of it overwritten by
    the load (JAX's assign simply stores the loaded array). A variable the load missed would read
    a fresh random value at every use, which any comparison of outputs catches. Keras' global
    list of uninitialised variables is emptied, so that no later scope initialises them over the
    loaded values. Other backends assign into an existing buffer: built as usual there."""
    import keras

    if keras.backend.backend() != "jax":
        return factory(**kwargs)
    with keras.StatelessScope(initialize_variables=False):
        model = factory(**kwargs)
    keras.backend.clear_session(free_memory=False)
    return model


def made_once(tmp_path_factory: Any, name: str, make: Callable[[Path], None]) -> Path:
    """A folder that ``make(folder)`` fills once per test session, whichever pytest-xdist worker
    asks first; the others wait for it on a file lock and reuse it (a module fixture alone runs
    once in every worker that runs one of its tests). For results that tests only read."""
    from filelock import FileLock  # a dependency of torch, which every user of this has

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


# --- subprocesses ---------------------------------------------------------------------------


ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
"""One thread per framework: pytest-xdist already runs a worker per core, threads that spin on
an oversubscribed CPU make torch and TensorFlow several times slower, and runs compared bit for
bit must use one thread count in the test process and in its children. conftest.py sets these
before any framework is imported; children inherit them."""


def framework_env(keras_backend: str | None = None, **extra: str) -> dict[str, str]:
    """This environment for a child process that runs a framework: :data:`ONE_THREAD`, quiet
    TensorFlow, JAX on the CPU, a fixed hash seed and, when given, ``KERAS_BACKEND``."""
    env = {
        **os.environ,
        **ONE_THREAD,
        "PYTHONHASHSEED": "0",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "JAX_PLATFORMS": "cpu",
        **extra,
    }
    if keras_backend is not None:
        env["KERAS_BACKEND"] = keras_backend
    return env


def run_python(
    script: str,
    *args: str | Path,
    keras_backend: str | None = None,
    cwd: Path = REPO,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``python -c script *args`` in a child with :func:`framework_env` and ``tests/`` on its
    path (so the script can ``from helpers import ...``); asserts it succeeded."""
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        env=framework_env(keras_backend, PYTHONPATH=str(REPO / "tests")),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def run_resgen(
    *args: str | Path, cwd: Path = REPO, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed ``resgen`` command in a real process (its exit status is the caller's to
    check)."""
    return subprocess.run(
        [str(RESGEN), *map(str, args)],
        capture_output=True,
        text=True,
        env=framework_env() if env is None else env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def no_traceback(result: Any) -> None:
    """A click ``CliRunner`` result that ended by exiting (any code), with no traceback shown."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def installed(module: str) -> bool:
    """``module`` is importable here (without importing it)."""
    return importlib.util.find_spec(module) is not None


# --- the state_dict a plan names ------------------------------------------------------------


@functools.cache
def family_models() -> dict[str, dict[str, Any]]:
    """tests/data/timm_families.json's models (timm's six residual-family modules), by name."""
    return json.loads((DATA / "timm_families.json").read_text(encoding="utf-8"))["models"]


def write_spec(folder: Path, text: str, name: str = "net") -> Path:
    """A spec's YAML ``text`` written to ``folder/<name>.yaml``; its path."""
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def listing_macs(entry: dict[str, Any]) -> int:
    """Multiply-adds of a timm listing's entry (tests/data/timm_*.json): FlopCounterMode counts
    2 FLOPs for each (convolutions and the classifier)."""
    return sum(entry["flops"].values()) // 2


def plan_counts_at_224(name: str) -> tuple[int, int]:
    """(params, MACs) of a shipped spec's plan at 224 px, the size timm's listings count at."""
    from resgen.check.validate import load_spec
    from resgen.plan.planner import build_plan

    spec = load_spec(spec_path(name))
    plan = build_plan(
        spec.model_copy(update={"input": spec.input.model_copy(update={"size": 224})})
    )
    return plan.params, plan.macs


def meta_state_dict(name: str) -> list[tuple[str, list[int]]]:
    """The committed generated PyTorch model's state_dict, keys and shapes in order (built on
    the meta device: nothing allocated)."""
    import torch

    with torch.device("meta"):
        model = build_generated("torch", name)
    return [(key, list(value.shape)) for key, value in model.state_dict().items()]


def _norm_keys(name: str, channels: int, group: bool) -> list[tuple[str, list[int]]]:
    keys = [(f"{name}.weight", [channels]), (f"{name}.bias", [channels])]
    if not group:
        keys += [(f"{name}.running_mean", [channels]), (f"{name}.running_var", [channels])]
        keys.append((f"{name}.num_batches_tracked", []))
    return keys


def _conv_keys(conv: Any) -> list[tuple[str, list[int]]]:
    shape = [conv.out_channels, conv.in_channels // conv.groups, conv.kernel, conv.kernel]
    keys = [(f"{conv.torch_name}.weight", shape)]
    return keys + ([(f"{conv.torch_name}.bias", [conv.out_channels])] if conv.bias else [])


def plan_state_dict(plan: Any) -> list[tuple[str, list[int]]]:
    """The keys and shapes a module built from the plan holds, in registration order: the stem
    (convs, norms, its pool's conv and norm), then each block (preact norm, each conv and its
    norm, attention, shortcut), then the final norm and the classifier."""
    group = plan.norm.kind.type == "group"
    keys: list[tuple[str, list[int]]] = []
    for conv, norm in plan.stem.conv_norms:
        keys += _conv_keys(conv) + (
            _norm_keys(norm.torch_name, norm.channels, group) if norm else []
        )
    pool = plan.stem.pool
    for conv, norm in zip(pool.convs, pool.norms, strict=True) if pool else ():
        keys += _conv_keys(conv) + _norm_keys(norm.torch_name, norm.channels, group)
    for block in plan.blocks:
        for layer in block.branch.layers:  # convs and norms in registration order
            if hasattr(layer, "kernel"):
                keys += _conv_keys(layer)
            else:
                keys += _norm_keys(layer.torch_name, layer.channels, group)
        attention = block.attention
        if hasattr(attention, "reduce"):
            keys += _conv_keys(attention.reduce) + _conv_keys(attention.expand)
        elif hasattr(attention, "conv_torch_name"):
            keys.append((f"{attention.conv_torch_name}.weight", [1, 1, attention.kernel]))
        for conv in block.shortcut_convs:
            keys += _conv_keys(conv)
        for norm in block.shortcut_norms:
            keys += _norm_keys(norm.torch_name, norm.channels, group)
    if plan.head.final_norm:
        keys += _norm_keys(plan.head.final_norm.torch_name, plan.head.in_features, group)
    head = plan.head
    keys.append((f"{head.torch_name}.weight", [head.num_classes, head.in_features]))
    keys.append((f"{head.torch_name}.bias", [head.num_classes]))
    return keys
