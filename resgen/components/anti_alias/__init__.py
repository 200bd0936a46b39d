"""Anti-aliased downsampling (Zhang 2019): a pool takes a strided conv's stride. One module per
kind.

The registry lists the package, as the other families' do: every module but ``base`` is a
kind, ordered by its ``ORDER``; the spec's ``anti_alias`` choices (``none`` and the kinds) and
their description derive from it. Each kind declares an :class:`AntiAliasKind`; the planned
pool is :class:`resgen.components.layers.AntiAlias`, which counts through its kind. The rest of
resgen reaches a kind through :func:`kind`.
"""

from __future__ import annotations

from typing import Literal

from resgen.components.anti_alias.base import AntiAliasKind
from resgen.components.registry import discover

__all__ = ["KINDS", "NONE", "AntiAliasKind", "AntiAliasWord", "kind"]


KINDS = discover(__name__, __path__, "anti-aliasing")
_BY_TYPE = {module.KIND.type: module.KIND for module in KINDS}

NONE = "none"  # the spec's word for no anti-aliasing

# The spec's choices: none, then one per registered kind.
AntiAliasWord = Literal[(NONE, *_BY_TYPE)]  # type: ignore[valid-type]

DESCRIPTION = (
    "Anti-aliased downsampling (Zhang 2019): each strided block's 3x3 conv runs at stride 1 and "
    "a pool after its activation takes the stride; shortcuts are unchanged. "
    f"{' '.join(module.KIND.choice for module in KINDS)} In the stem, avg replaces the max pool "
    "by a 2x2/2 average pool and blur makes it a 3x3/1 max pool then the blur; with "
    "`stem.pool: conv` the conv runs at stride 1 and the pool follows it (timm: `aa_layer`, "
    "nn.AvgPool2d or BlurPool2d)."
)


def kind(word: str) -> AntiAliasKind | None:
    """The kind the spec's ``anti_alias`` names; None for ``none``."""
    return None if word == NONE else _BY_TYPE[word]
