"""Blur anti-aliasing's stem pool: the max pool at stride 1, then the blur pool takes the
stride (timm's ``aa_layer=BlurPool2d``: ``maxpool.0`` and ``maxpool.1``)."""

from __future__ import annotations

from dataclasses import dataclass

from resgen.components.stem_pool.base import At, StemPool, StemPoolKind
from resgen.naming import stem_pool_names
from resgen.plan_layers import AntiAlias

ORDER = 30
KIND = StemPoolKind(type="blur", word="max", anti_alias=("blur",), keras_pad=True)


@dataclass(frozen=True)
class BlurPool(StemPool):
    """A 3x3/1 max pool, then the blur pool at stride 2."""

    KIND = KIND

    blur: AntiAlias

    @property
    def anti_alias(self) -> AntiAlias:
        return self.blur

    @property
    def out_size(self) -> int:
        return self.blur.out_size

    @property
    def phrase(self) -> str:
        return "a 3x3/1 max pool and a blur pool (anti-aliasing)"


def plan(at: At) -> BlurPool:
    names = stem_pool_names(KIND.type, anti_aliased=True)
    return BlurPool(
        at.channels,
        at.size,
        AntiAlias(BlurPool.anti_aliased(at), *names.anti_alias, at.channels, at.size),
    )
