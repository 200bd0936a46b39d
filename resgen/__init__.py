"""resgen: residual networks from YAML specs, rendered as standalone PyTorch and Keras 3 files.

``import resgen`` loads neither torch nor tensorflow; only ``resgen train``, ``resgen convert``
and the weight-transfer helpers import a framework. It loads nothing else either: the public
names below are imported on first use (PEP 562), so ``resgen --version`` and the commands that
need only part of the pipeline do not pay for pydantic, Jinja and every module at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from resgen._version import __version__

if TYPE_CHECKING:
    from resgen.check.validate import load_spec
    from resgen.errors import Problem, ResgenError, SpecError
    from resgen.plan.network import NetworkPlan
    from resgen.plan.planner import build_plan
    from resgen.rendering.render import render
    from resgen.spec.models import Spec

# public name -> the module that defines it
_EXPORTS = {
    "NetworkPlan": "resgen.plan.network",
    "Problem": "resgen.errors",
    "ResgenError": "resgen.errors",
    "Spec": "resgen.spec.models",
    "SpecError": "resgen.errors",
    "build_plan": "resgen.plan.planner",
    "load_spec": "resgen.check.validate",
    "render": "resgen.rendering.render",
}

__all__ = [
    "NetworkPlan",
    "Problem",
    "ResgenError",
    "Spec",
    "SpecError",
    "__version__",
    "build_plan",
    "load_spec",
    "render",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'resgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
