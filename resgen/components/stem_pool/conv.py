"""ResNet-RS's stem pool (Bello et al. 2021): a 3x3/2 conv as wide as the stem, norm and
activation in place of the max pool (timm's ``replace_stem_pool=True``); anti-aliased, the conv
runs at stride 1 and the anti-aliasing pool follows it, before the norm (timm's order)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from resgen.components import naming
from resgen.components.layers import AntiAlias, Conv, Norm
from resgen.components.stem_pool.base import At, StemPool, StemPoolKind

ORDER = 40
KIND = StemPoolKind(
    type="conv",
    word="conv",
    anti_alias=None,
    choice="conv: a 3x3/2 conv (as wide as the stem), norm and activation, as in ResNet-RS "
    "(Bello et al. 2021) (timm: `replace_stem_pool=True`).",
)


@dataclass(frozen=True)
class ConvPool(StemPool):
    """``maxpool.0`` the conv, ``maxpool.1`` the norm (``.1`` the anti-aliasing pool and ``.2``
    the norm where one takes the stride); Keras ``pool1_conv``, ``pool1_aa``, ``pool1_bn``."""

    KIND = KIND

    conv: Conv
    norm: Norm
    aa: AntiAlias | None = None

    @property
    def anti_alias(self) -> AntiAlias | None:
        return self.aa

    @property
    def out_size(self) -> int:
        return self.aa.out_size if self.aa else self.conv.out_size

    @property
    def convs(self) -> tuple[Conv, ...]:
        return (self.conv,)

    @property
    def norms(self) -> tuple[Norm, ...]:
        return (self.norm,)

    @property
    def phrase(self) -> str:
        if self.aa is not None:
            return "a 3x3 conv, an anti-aliasing pool, norm and activation in place of the max pool"
        return "a 3x3/2 conv, norm and activation in place of the max pool (ResNet-RS)"


def _names(anti_aliased: bool) -> tuple[tuple[str, str], tuple[str, str], tuple[str, str]]:
    """(conv, anti-aliasing pool, norm) names, in timm's order: the norm is ``maxpool.2`` where
    the anti-aliasing pool sits between them, ``maxpool.1`` otherwise."""
    conv = naming.stem_pool_layer(0, naming.CONV)
    aa = naming.stem_pool_layer(1, naming.AA)
    norm = naming.stem_pool_layer(2 if anti_aliased else 1, naming.NORM)
    return conv, aa, norm


def plan(at: At) -> ConvPool:
    conv_names, aa_names, norm_names = _names(at.anti_alias is not None)
    conv = Conv(
        *conv_names,
        in_channels=at.channels,
        out_channels=at.channels,
        kernel=3,
        stride=1 if at.anti_alias else 2,
        groups=1,
        bias=at.bias,
        in_size=at.size,
    )
    aa = None
    if at.anti_alias:
        aa = AntiAlias(at.anti_alias, *aa_names, at.channels, conv.out_size)
    return ConvPool(at.channels, at.size, conv, at.norm(*norm_names, at.channels), aa)


def weights() -> Iterator[tuple[str, str, str]]:
    """Its weighted layers, anti-aliased or not: (layer kind, PyTorch path, Keras name)."""
    for anti_aliased in (False, True):
        conv, _, norm = _names(anti_aliased)
        yield ("conv", *conv)
        yield ("norm", *norm)
