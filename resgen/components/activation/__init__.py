"""The activation of the stem and the blocks: one module per kind.

The registry lists the package, as the attention family's does: every module but ``base`` is a
kind, ordered by its ``ORDER``; the spec's ``Activation`` choices and the field's description
derive from it. The rest of resgen reaches a kind through :func:`kind`.
"""

from __future__ import annotations

from typing import Literal

from resgen.components.activation.base import ActivationKind
from resgen.components.registry import discover

__all__ = ["KINDS", "Activation", "ActivationKind", "kind"]


KINDS = discover(__name__, __path__, "activation")
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
