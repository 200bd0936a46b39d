"""The norm of the whole network (stem, blocks, projections, the final norm): one module per
kind.

The registry lists the package, as the attention family's does: every module but ``base`` is a
kind, ordered by its ``ORDER``; the spec's ``norm.type`` choices and their description derive
from it. Each kind declares its :class:`NormKind` (its helper and templates, prose, counts and
transfer pairing), its rules (:func:`check` on the spec, :func:`check_plan` on the planned
widths) and its settings record (the file's constants). The rest of resgen reaches a kind only
through the functions here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from resgen.components.norm.base import Finding, NormKind, NormSettings, given
from resgen.components.registry import discover

__all__ = ["KINDS", "NormKind", "NormSettings", "NormType", "kind", "settings"]


KINDS = discover(__name__, __path__, "norm")
_BY_TYPE = {module.KIND.type: module for module in KINDS}

# The spec's choices, one per registered kind.
NormType = Literal[tuple(_BY_TYPE)]  # type: ignore[valid-type]

DESCRIPTION = " ".join(module.KIND.choice for module in KINDS)

# Module-level names the kinds' helpers define in a generated file (a spec name must not
# shadow them).
DEFINES = frozenset(name for module in KINDS for name in module.KIND.defines)

# Every kind's PyTorch class (its run-time name) -> the kind: what transfer pairs.
BY_TORCH_LAYER = {module.KIND.torch_layer: module.KIND for module in KINDS}


def kind(word: str) -> NormKind:
    """The kind the spec's ``norm.type`` names."""
    return _BY_TYPE[word].KIND


# The kinds that read ``norm.groups`` (group norm, EvoNorm-S0).
GROUPED = tuple(module.KIND for module in KINDS if module.KIND.grouped)

# The kinds that can size their groups by ``norm.group_size`` instead (group norm).
SIZED = tuple(module.KIND for module in KINDS if hasattr(module, "SIZED"))


def check(spec: Any) -> list[Finding]:
    """The kind's cross-field rules, at paths relative to ``norm``: groups only where the kind
    has them, then its own."""
    found: list[Finding] = []
    if "groups" in given(spec) and not kind(spec.type).grouped:
        names = " and ".join(grouped.name for grouped in GROUPED)
        types = " or ".join(grouped.type for grouped in GROUPED)
        have = "has" if len(GROUPED) == 1 else "have"
        message = f"only {names} {have} groups; remove it or set type: {types}"
        found.append((("groups",), message))
    if spec.group_size is not None and not hasattr(_BY_TYPE[spec.type], "SIZED"):
        names = " and ".join(sized.name for sized in SIZED)
        types = " or ".join(sized.type for sized in SIZED)
        message = f"only {names} has group_size; remove it or set type: {types}"
        found.append((("group_size",), message))
    return found + _BY_TYPE[spec.type].check(spec)


def check_plan(spec: Any, norms: Sequence[tuple[str, int]]) -> list[Finding]:
    """The kind's rules on the planned norms, (PyTorch path, channels), relative to ``norm``."""
    return _BY_TYPE[spec.type].check_plan(spec, norms)


def settings(spec: Any) -> NormSettings:
    """The network-wide settings of the spec's ``norm`` (its kind's record)."""
    return _BY_TYPE[spec.type].settings(spec)
