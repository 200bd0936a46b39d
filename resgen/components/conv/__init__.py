"""The conv layer of the whole network (the stem's convs, the blocks', the projection
shortcuts'): one module per kind.

The registry lists the package, as the norm family's does: every module but ``base`` is a kind,
ordered by its ``ORDER``. Each kind declares its spec model (the spec's ``conv`` union derives
from them, tagged by ``type``), its :class:`ConvKind` (the layer its templates define and every
conv call site builds, its Keras twin, its prose), its rules and its settings record (the file's
constants). The rest of resgen reaches a kind only through the functions here.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import Field

from resgen.components.conv.base import ConvKind, ConvSettings, Finding
from resgen.components.registry import discover

__all__ = ["DEFAULT", "KINDS", "ConvKind", "ConvSettings", "ConvSpec", "kind", "settings"]


KINDS = discover(__name__, __path__, "conv")
_BY_TYPE = {module.KIND.type: module for module in KINDS}

# The spec's union, tagged by ``type``: one member per registered kind; the first is the
# default (the framework's own conv).
SPECS: dict[str, Any] = {module.KIND.type: module.Spec for module in KINDS}
ConvSpec = Annotated[functools.reduce(operator.or_, SPECS.values()), Field(discriminator="type")]
DEFAULT = KINDS[0].Spec

_CHOICES = [module.KIND.choice for module in KINDS]
DESCRIPTION = (
    "The conv layer of the stem, the blocks and the projection shortcuts (the classifier and "
    f"attention modules stay plain, as in timm): {'; or '.join(_CHOICES)}."
)

# Module-level names the kinds' layers define in a generated file (a spec name must not shadow
# them).
DEFINES = frozenset(name for module in KINDS for name in module.KIND.defines)

# Every kind's PyTorch class (its run-time name) -> the kind: what transfer pairs.
BY_TORCH_LAYER = {module.KIND.torch_layer: module.KIND for module in KINDS}


def kind(word: str) -> ConvKind:
    """The kind the spec's ``conv.type`` names."""
    return _BY_TYPE[word].KIND


def check(spec: Any, used: Iterable[Any], takers: Sequence[str]) -> list[Finding]:
    """The kind's rules, at paths from the spec's root: ``used`` are the block kinds the
    network uses, ``takers`` the names of those whose convs a conv kind reaches."""
    return _BY_TYPE[spec.type].check(spec, used, takers)


def settings(spec: Any) -> ConvSettings:
    """The network-wide settings of the spec's ``conv`` (its kind's record)."""
    return _BY_TYPE[spec.type].settings(spec)
