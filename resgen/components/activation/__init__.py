"""The activation of the stem and the blocks: one module per kind.

The registry lists the package, as the attention family's does: every module but ``base`` is a
kind, ordered by its ``ORDER``; the spec's ``Activation`` choices and the field's description
derive from it. The rest of resgen reaches a kind through :func:`kind`.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Literal

from resgen.components.activation.base import ActivationKind

__all__ = ["KINDS", "Activation", "ActivationKind", "kind"]


def _kinds() -> tuple[ModuleType, ...]:
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if info.name != "base")
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    modules.sort(key=lambda module: module.ORDER)
    orders = [module.ORDER for module in modules]
    if len(set(orders)) != len(orders):
        raise RuntimeError(f"activation kinds share an ORDER: {orders}")
    return tuple(modules)


KINDS = _kinds()
_BY_TYPE = {module.KIND.type: module.KIND for module in KINDS}

# The spec's choices, one per registered kind.
Activation = Literal[tuple(_BY_TYPE)]  # type: ignore[valid-type]

_CHOICES = [module.KIND.choice for module in KINDS]
DESCRIPTION = (
    f"The nonlinearity of the stem and the blocks: {', '.join(_CHOICES[:-1])} or "
    f"{_CHOICES[-1]}. Squeeze-and-excitation keeps ReLU inside and a sigmoid gate (timm: "
    "`act_layer`)."
)


def kind(word: str) -> ActivationKind:
    """The kind the spec's ``activation`` names."""
    return _BY_TYPE[word]
