"""Channel attention on a block's branch, after its last norm and before the sum.

The registry: every module of this package but ``base`` is a kind, found by listing the
package, so adding a kind is adding its module (and its two templates). ``KINDS`` holds them in
the order of their ``ORDER``, the order the spec's union, the field reference and the
generated files name them. Everything else about a kind (its spec model, rules, plan record,
names, sentence, weights and template key) lives in its own module; the rest of resgen reaches
a kind only through the functions here.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import Field

from resgen.components import naming
from resgen.components.attention.base import Attention, AttentionKind, Finding
from resgen.components.registry import discover

__all__ = ["KINDS", "Attention", "AttentionKind", "AttentionSpec", "Finding"]


KINDS = discover(__name__, __path__, "attention")

SPECS: dict[str, Any] = {kind.KIND.type: kind.Spec for kind in KINDS}
_BY_TYPE = {kind.KIND.type: kind for kind in KINDS}

# The spec's union, tagged by ``type``: one member per registered kind.
AttentionSpec = Annotated[
    functools.reduce(operator.or_, SPECS.values()), Field(discriminator="type")
]

_CHOICES = [f"`{{type: {name}}}`" for name in SPECS]
DESCRIPTION = (
    "Channel attention on each block's branch, after its last norm and before the sum: "
    f"{', '.join(_CHOICES[:-1])} or {_CHOICES[-1]}; none by default (timm: `attn_layer`)."
)

# Module-level names the kinds' helpers define in a generated file (a spec name must not
# shadow them).
DEFINES = frozenset(name for kind in KINDS for name in kind.KIND.defines)


def kind(spec: Any) -> AttentionKind | None:
    """The kind a spec's ``block.attention`` picks, as block classes take it."""
    return None if spec is None else _BY_TYPE[spec.type].KIND


def check(spec: Any) -> list[Finding]:
    """The kind's cross-field rules, at paths relative to ``block.attention``."""
    return [] if spec is None else _BY_TYPE[spec.type].check(spec)


def plan(spec: Any, names: naming.BlockNames, channels: int, size: int) -> Attention | None:
    """The attention module of one block whose branch outputs ``channels`` x ``size`` x
    ``size``."""
    return None if spec is None else _BY_TYPE[spec.type].plan(spec, names, channels, size)


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Every kind's weighted layers in one block: (layer kind, PyTorch path, Keras name)."""
    for module in KINDS:
        yield from module.weights(names)


def ordered(kinds: set[AttentionKind]) -> tuple[AttentionKind, ...]:
    """The given kinds in registry order (the order a file defines their helpers)."""
    return tuple(module.KIND for module in KINDS if module.KIND in kinds)
