"""What downsamples after the stem's convs (PyTorch ``maxpool``, whatever it holds): one module
per kind.

The registry lists the package, as the other families' do: every module but ``base`` is a
kind, ordered by its ``ORDER``. The spec picks a kind by ``stem.pool`` and ``anti_alias``
(each kind declares the words that pick it); ``stem.pool``'s choices and description derive
from the kinds that name a word. Each kind module declares its :class:`StemPoolKind`, its
planned record (its layers, size, parameters and MACs, its words in the docstrings) and
``plan(at)``; a kind with weights declares ``weights()`` for :mod:`resgen.weights.transfer`. Its
templates, ``templates/torch/stem_pool/<type>.py.j2`` (macros ``init(pool, page)`` and
``forward(pool)``) and ``templates/keras/stem_pool/<type>.py.j2`` (``call(pool, page)``), print
it.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Literal

from resgen.components.registry import discover
from resgen.components.stem_pool.base import At, StemPool, StemPoolKind

__all__ = ["KINDS", "At", "StemPool", "StemPoolKind", "StemPoolWord", "pick", "plan"]


KINDS = discover(__name__, __path__, "stem pool")

_WORDS = {module.KIND.word: module.KIND.choice for module in KINDS if module.KIND.choice}

# The spec's ``stem.pool`` choices, one per kind that names a word.
StemPoolWord = Literal[tuple(_WORDS)]  # type: ignore[valid-type]

DESCRIPTION = (
    f"What downsamples after the stem's convs. {' '.join(_WORDS.values())} The cifar stem has "
    "neither."
)


def pick(word: str, anti_alias: str) -> ModuleType:
    """The kind ``stem.pool: <word>`` picks under ``anti_alias: <anti_alias>``."""
    for module in KINDS:
        words = module.KIND.anti_alias
        if module.KIND.word == word and (words is None or anti_alias in words):
            return module
    raise LookupError(f"no stem pool kind for stem.pool {word!r}, anti_alias {anti_alias!r}")


def kind(word: str, anti_alias: str) -> StemPoolKind:
    return pick(word, anti_alias).KIND


def plan(word: str, anti_alias: str, at: At) -> StemPool:
    """The planned pool ``word`` and ``anti_alias`` pick, after the stem's convs."""
    return pick(word, anti_alias).plan(at)


def weights() -> Iterator[tuple[str, str, str]]:
    """Every kind's weighted layers: (layer kind, PyTorch path, Keras name)."""
    for module in KINDS:
        yield from getattr(module, "weights", tuple)()
