"""Average anti-aliasing's stem pool: a 2x2/2 average pool in place of the max pool (timm's
``aa_layer=nn.AvgPool2d``)."""

from __future__ import annotations

from dataclasses import dataclass

from resgen.components import naming
from resgen.components.layers import AntiAlias
from resgen.components.stem_pool.base import At, StemPool, StemPoolKind

ORDER = 20
KIND = StemPoolKind(type="avg", word="max", anti_alias=("avg",))


@dataclass(frozen=True)
class AvgPool(StemPool):
    """The 2x2/2 average pool, keyless, named ``maxpool`` (Keras ``pool1_pool``)."""

    KIND = KIND

    pool: AntiAlias

    @property
    def anti_alias(self) -> AntiAlias:
        return self.pool

    @property
    def out_size(self) -> int:
        return self.pool.out_size

    @property
    def phrase(self) -> str:
        return "a 2x2/2 average pool (anti-aliasing)"


def plan(at: At) -> AvgPool:
    names = naming.stem_pool_layer(None, naming.POOL)  # keyless, in the max pool's place
    pool = AntiAlias(AvgPool.anti_aliased(at), *names, at.channels, at.size)
    return AvgPool(at.channels, at.size, pool)
