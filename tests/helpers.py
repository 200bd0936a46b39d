"""Helpers the test modules share: where the repository is, ruff on generated files, writing
YAML that means exactly a given value, importing a generated file.

Test modules import it as ``from helpers import ...`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
"""The repository root (the folder holding ``pyproject.toml``)."""

SPECS = REPO / "specs"
GENERATED = REPO / "generated"


def shipped_specs() -> dict[str, Path]:
    """Every shipped spec by name: ``specs/`` and its family folders (torchvision, keras,
    papers, timm), as ``resgen build specs/`` finds them."""
    return {path.stem: path for path in sorted(SPECS.rglob("*.yaml"))}


def spec_path(name: str) -> Path:
    """The shipped spec named ``name``, in whichever family folder it lives."""
    return shipped_specs()[name]


RUFF = Path(sys.executable).with_name("ruff")

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


def import_file(path: Path, prefix: str = "generated") -> ModuleType:
    """Import one generated file under a fresh module name."""
    module_spec = importlib.util.spec_from_file_location(f"{prefix}_{next(_counter)}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


# --- the state_dict a plan names ------------------------------------------------------------


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
    group = plan.group_norm
    keys: list[tuple[str, list[int]]] = []
    for conv, norm in plan.stem.conv_norms:
        keys += _conv_keys(conv) + (
            _norm_keys(norm.torch_name, norm.channels, group) if norm else []
        )
    if plan.stem.pool_conv and plan.stem.pool_norm:
        norm = plan.stem.pool_norm
        keys += _conv_keys(plan.stem.pool_conv) + _norm_keys(norm.torch_name, norm.channels, group)
    for block in plan.blocks:
        norms = list(block.norms)
        if block.preact:
            first = norms.pop(0)
            keys += _norm_keys(first.torch_name, first.channels, group)
        for i, conv in enumerate(block.convs):
            keys += _conv_keys(conv)
            if i < len(norms):
                keys += _norm_keys(norms[i].torch_name, norms[i].channels, group)
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
