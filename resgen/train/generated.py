"""The network under training: the spec rendered exactly as ``resgen build`` renders it.

The text is written to ``OUT/model.py`` (the bytes ``build`` writes to
``generated/<backend>/<name>.py``) and imported from that file, so the code that trains is the
code users vendor, not a private copy.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from resgen.build import source_name
from resgen.render import Backend, render
from resgen.spec import Spec


def model_text(spec_path: Path, spec: Spec, backend: Backend) -> str:
    return render(spec, backend, source_name(spec_path))


def import_file(path: Path, name: str) -> ModuleType:
    """Import ``path`` as a fresh module (registered in ``sys.modules`` under a private name)."""
    module_name = f"_resgen_train_{name}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    assert loader_spec is not None and loader_spec.loader is not None
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    loader_spec.loader.exec_module(module)
    return module
