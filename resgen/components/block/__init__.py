"""Residual block kinds: the branch a block computes (basic, bottleneck, ...).

The registry: every module of this package but ``base`` is a kind, found by listing the
package, so adding a kind is adding its module (and its templates). ``KINDS`` holds them in the
order of their ``ORDER``, the order the spec's union and the field reference name them.
Everything else about a kind (its spec model, knobs, widths, branch, rules, names, sentence,
weights and templates) lives in its own module; the rest of resgen reaches a kind only
through the functions here.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from types import ModuleType
from typing import Annotated, Any, Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.block.base import (
    BlockKind,
    Branch,
    BranchContext,
    ConvShape,
    Finding,
    Knobs,
    standard_branch,
)
from resgen.components.registry import discover

__all__ = [
    "KINDS",
    "BlockKind",
    "BlockSpec",
    "BlockType",
    "Branch",
    "BranchContext",
    "ConvShape",
    "Finding",
    "Knobs",
    "standard_branch",
]

KINDS = discover(__name__, __path__, "block")

SPECS: dict[str, Any] = {kind.KIND.type: kind.Spec for kind in KINDS}
_BY_TYPE: dict[str, ModuleType] = {kind.KIND.type: kind for kind in KINDS}

# The spec's union, tagged by ``type``: one member per registered kind.
BlockSpec = Annotated[functools.reduce(operator.or_, SPECS.values()), Field(discriminator="type")]

# The kinds' names, as ``stages[].block_type`` takes them.
BlockType = Literal[tuple(SPECS)]  # type: ignore[valid-type]

# Module-level names the kinds define in a generated file: Keras' block functions and the
# helpers their ``define`` prints (a spec name must not shadow them).
DEFINES = frozenset(
    [f"{t}_block" for kind in KINDS for t in kind.KIND.templates()]
    + [name for kind in KINDS for name in kind.KIND.defines]
)


def kind(type_: str) -> BlockKind:
    """The declaration of the kind named ``type_``."""
    return _BY_TYPE[type_].KIND


def knobs(block: Any, type_: str) -> Knobs:
    """The knobs of kind ``type_`` for a stage of a spec whose block is ``block``: the block's
    own where it is that kind, else the kind's defaults (a stage mixing kinds)."""
    module = _BY_TYPE[type_]
    spec = block if block.type == type_ else module.Spec.model_construct(type=type_)
    return module.knobs(spec)


def widths(type_: str, knobs: Knobs, channels: int, reduce_first: int) -> tuple[int, int, int]:
    """(first conv's width, inner width, output width) of a stage of ``channels``."""
    return _BY_TYPE[type_].widths(knobs, channels, reduce_first)


def plan(type_: str, context: BranchContext, knobs: Knobs) -> Branch:
    """One block's branch."""
    return _BY_TYPE[type_].plan(context, knobs)


def check(spec: Any) -> list[Finding]:
    """The rules of the kind the spec's block picks, at paths from the spec's root."""
    block = spec.block
    found: list[Finding] = []
    if block.preact and kind(block.type).preact_template is None:
        found.append(
            (
                ("block", "preact"),
                f"{block.type} blocks have no pre-activation variant; set it to false",
            )
        )
    return found + _BY_TYPE[block.type].check(spec)


def check_stage(type_: str, spec: Any, knobs: Knobs, stage: Any) -> list[Finding]:
    """The rules of one stage of kind ``type_``, at paths relative to the stage."""
    return _BY_TYPE[type_].check_stage(spec, knobs, stage)


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Every kind's weighted branch layers in one block (each once): (layer kind, PyTorch path,
    Keras name); a pre-activation block's leading norm too."""
    seen: set[tuple[str, str, str]] = set()
    for module in KINDS:
        for layer in module.weights(names):
            if layer not in seen:
                seen.add(layer)
                yield layer
    yield ("norm", *names.preact_norm)
