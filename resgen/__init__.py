"""resgen: residual networks from YAML specs, rendered as standalone PyTorch and Keras 3 files.

``import resgen`` loads neither torch nor tensorflow; only ``resgen train``, ``resgen convert``
and the weight-transfer helpers import a framework.
"""

from resgen.errors import Problem, ResgenError, SpecError
from resgen.plan import NetworkPlan
from resgen.planner import build_plan
from resgen.render import render
from resgen.spec import Spec
from resgen.validate import load_spec

__all__ = [
    "NetworkPlan",
    "Problem",
    "ResgenError",
    "Spec",
    "SpecError",
    "build_plan",
    "load_spec",
    "render",
]
