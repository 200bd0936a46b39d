"""Shortcut kinds: when a block's shortcut is not the identity (none, always, on a shape
change, on a width change).

The registry: every module of this package but ``base`` is a kind, found by listing the
package, ordered by ``ORDER``. A kind declares when its module applies, whether the block adds
a shortcut, its clause in the description and which spec words select it; its two templates
(``templates/<backend>/shortcuts/<when>.py.j2``) print it. The module itself (option A's zero
padding, a projection, ResNet-D's pooled projection), its layers and their weights are the
family's shared part (``base.plan``, ``base.weights``).
"""

from __future__ import annotations

from resgen.components.registry import discover
from resgen.components.shortcut.base import (
    BlockShortcut,
    ShortcutLayers,
    ShortcutRule,
    When,
    plan,
    weights,
)

__all__ = [
    "KINDS",
    "BlockShortcut",
    "ShortcutLayers",
    "ShortcutRule",
    "When",
    "plan",
    "select",
    "weights",
]

KINDS = discover(__name__, __path__, "shortcut")


def select(policy: str, stride_shortcut: str) -> When:
    """The one kind the spec's ``shortcut`` and ``stride_shortcut`` pick."""
    (found,) = [k.KIND for k in KINDS if k.KIND.selects(policy, stride_shortcut)]
    return found
