"""Blur anti-aliasing's stem pool: the max pool at stride 1, then the blur pool takes the
stride (timm's ``aa_layer=BlurPool2d``: ``maxpool.0`` and ``maxpool.1``)."""

from __future__ import annotations

from dataclasses import dataclass

from resgen.components import naming
from resgen.components.layers import AntiAlias
from resgen.components.stem_pool.base import At, StemPool, StemPoolKind

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
    names = naming.stem_pool_layer(1, naming.AA)  # after the max pool, maxpool.0
    blur = AntiAlias(BlurPool.anti_aliased(at), *names, at.channels, at.size)
    return BlurPool(at.channels, at.size, blur)
