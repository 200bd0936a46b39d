"""The layers before the first stage (the spec's ``stem.type``): one module per kind.

The registry lists the package, as the other families' do: every module but ``base`` is a
kind, ordered by its ``ORDER``; ``stem.type``'s choices and their description derive from it.
Each kind module declares its :class:`StemKind` and, where it differs from a one-conv stem's
(``stem.channels`` wide, no rules of its own, ``KIND.phrase``: :mod:`.base`'s defaults), its
convs' widths (:func:`widths`), its own rules (:func:`check`) and its phrase in the docstrings
(:func:`phrase`); the rest of resgen reaches a kind through the functions here. What follows
the convs is the stem pool family's (:mod:`resgen.components.stem_pool`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from resgen.components import naming
from resgen.components.registry import discover
from resgen.components.stem import base
from resgen.components.stem.base import Finding, StemKind

__all__ = ["KINDS", "StemKind", "StemType", "check", "kind", "phrase", "weights", "widths"]


KINDS = discover(__name__, __path__, "stem")
_BY_TYPE = {module.KIND.type: module for module in KINDS}

# The spec's choices, one per registered kind.
StemType = Literal[tuple(_BY_TYPE)]  # type: ignore[valid-type]

DESCRIPTION = " ".join(module.KIND.choice for module in KINDS)


def kind(word: str) -> StemKind:
    """The kind the spec's ``stem.type`` names."""
    return _BY_TYPE[word].KIND


def widths(spec: Any) -> tuple[int, ...]:
    """The output width of each of the spec's stem convs."""
    return getattr(_BY_TYPE[spec.type], "widths", base.one_conv_widths)(spec)


def check(spec: Any) -> list[Finding]:
    """The kind's own rules, at paths relative to ``stem``."""
    return getattr(_BY_TYPE[spec.type], "check", base.no_rules)(spec)


def phrase(stem_kind: StemKind, widths: tuple[int, ...]) -> str:
    """The stem's convs in the docstrings' words."""
    module = _BY_TYPE[stem_kind.type]
    return module.phrase(widths) if hasattr(module, "phrase") else stem_kind.phrase


def weights(dialect: naming.Dialect) -> Iterator[tuple[str, str, str]]:
    """Every kind's weighted layers in ``dialect``: (layer kind, PyTorch path, Keras name)."""
    for count in sorted({module.KIND.convs for module in KINDS}):
        for torch_conv, keras_conv, torch_norm, keras_norm in dialect.stem_names(count):
            yield ("conv", torch_conv, keras_conv)
            yield ("norm", torch_norm, keras_norm)
        # A pre-activation stem's last conv has no norm (a dialect may name it apart).
        torch_conv, keras_conv, _, _ = dialect.stem_names(count, normed=False)[-1]
        yield ("conv", torch_conv, keras_conv)
