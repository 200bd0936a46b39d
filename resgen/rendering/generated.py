"""A spec's generated file, exactly as ``resgen build`` writes it, and importing one by path.

``convert``, ``train`` and the tests build models through these two functions, so the code they
run is the bytes users vendor (``generated/<backend>/<name>.py``), not a private copy.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from resgen.backends import Backend
from resgen.plan.network import NetworkPlan
from resgen.rendering.build import source_name
from resgen.rendering.render import render
from resgen.spec.models import Spec


def model_text(
    spec_path: Path, spec: Spec, backend: Backend, plan: NetworkPlan | None = None
) -> str:
    """The text ``resgen build`` writes for ``spec`` (read from ``spec_path``) and ``backend``."""
    return render(spec, backend, source_name(spec_path), plan)


def write_model(
    spec_path: Path, spec: Spec, backend: Backend, folder: Path, plan: NetworkPlan | None = None
) -> Path:
    """Write ``folder/<backend>/<name>.py`` as ``resgen build --out folder`` lays it out."""
    path = folder / backend / f"{spec.name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model_text(spec_path, spec, backend, plan), encoding="utf-8")
    return path


def import_file(path: Path, module_name: str, *, register: bool = True) -> ModuleType:
    """Import ``path`` as a fresh module named ``module_name``; ``register`` puts it in
    ``sys.modules`` (pickling a whole model, and torch.compile, need that)."""
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(loader_spec)
    if register:
        sys.modules[module_name] = module
    loader_spec.loader.exec_module(module)
    return module
