"""What a stem pool kind declares: when the spec picks it, its words, and its planned record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from resgen.components import naming
from resgen.components.anti_alias.base import AntiAliasKind
from resgen.components.layers import AntiAlias, Conv, Norm

Rounding = Literal["up", "down"]


@dataclass(frozen=True)
class StemPoolKind:
    """One kind of what downsamples after the stem's convs (PyTorch ``maxpool``, whatever it
    holds): the spec picks it by ``stem.pool`` and ``anti_alias``."""

    type: str  # its name; also its templates' (``templates/<backend>/stem_pool/<type>.py.j2``)
    word: str  # the ``stem.pool`` word that picks it
    # The ``anti_alias`` words with which that word picks it; None: any (it takes whichever).
    anti_alias: tuple[str, ...] | None
    choice: str | None = None  # its sentence in ``stem.pool``'s description (one kind a word)
    called: str = "pool"  # what the docstrings call it ("the stem's output before its pool")
    padding: bool = False  # takes ``stem.pool_padding`` (the 3x3/2 max pool pads)
    keras_pad: bool = False  # its Keras layers start with a max pool that Keras cannot pad


@dataclass(frozen=True)
class At:
    """Where the stem's pool sits, and what the spec says about its layers."""

    channels: int  # the stem's width
    size: int  # the map the stem's convs output
    anti_alias: AntiAliasKind | None  # the spec's anti-aliasing
    padding: str  # ``stem.pool_padding``
    bias: bool  # a conv followed by a norm has a bias (``conv_bias: all``)
    norm: Callable[[str, str, int], Norm]  # the network's norm: (PyTorch, Keras name, channels)


@dataclass(frozen=True)
class StemPool:
    """A planned stem pool: the module ``maxpool`` (Keras ``pool1_*``) on a ``channels`` x
    ``in_size`` x ``in_size`` map."""

    KIND: ClassVar[StemPoolKind]

    channels: int
    in_size: int
    # The PyTorch attribute, whatever it holds (``maxpool``, as torchvision and timm; the
    # naming dialect's: legacy SENet's ``pool0``).
    torch_name: str = field(default=naming.STEM_POOL[0], kw_only=True)
    # The PyTorch zero padding before a zero-padded max pool (``pool_pad``; the dialect's:
    # timm's resnetv2.py ``stem.pad``, its BiT stem's ``ConstantPad2d(1, 0.)``).
    torch_pad: str = field(default=naming.STEM_POOL_PAD[0], kw_only=True)

    @property
    def kind(self) -> StemPoolKind:
        return self.KIND

    @staticmethod
    def anti_aliased(at: At) -> AntiAliasKind:
        """The spec's anti-aliasing, for a kind picked only with one."""
        if at.anti_alias is None:
            raise ValueError("this stem pool kind is picked only with anti-aliasing")
        return at.anti_alias

    @property
    def keras_name(self) -> str:
        """Its Keras max pool's name (``pool1_pool``)."""
        return naming.STEM_POOL[1]

    @property
    def keras_pad(self) -> str:
        """The Keras padding layer before its max pool (``pool1_pad``)."""
        return naming.STEM_POOL_PAD[1]

    @property
    def out_size(self) -> int:
        raise NotImplementedError

    @property
    def phrase(self) -> str:
        """It in the docstrings' words ("a 3x3/2 max pool")."""
        raise NotImplementedError

    @property
    def anti_alias(self) -> AntiAlias | None:
        """The anti-aliasing pool that takes its stride, if one does."""
        return None

    @property
    def zero_padded(self) -> bool:
        """It pads with explicit zeros (keras.applications ResNetV2's max pool)."""
        return False

    @property
    def ceil(self) -> bool:
        """It takes no padding and rounds its output up (PyTorch's ``ceil_mode``)."""
        return False

    @property
    def convs(self) -> tuple[Conv, ...]:
        return ()

    @property
    def norms(self) -> tuple[Norm, ...]:
        return ()

    @property
    def rounding(self) -> Rounding:
        """How it halves an odd size: as the anti-aliasing pool that takes its stride (a 2x2
        average pool rounds down), else up."""
        aa = self.anti_alias
        return aa.rounding if aa is not None else "up"

    @property
    def params(self) -> int:
        return sum(layer.params for layer in (*self.convs, *self.norms))

    @property
    def macs(self) -> int:
        macs = sum(conv.macs for conv in self.convs)
        return macs + (self.anti_alias.macs if self.anti_alias else 0)
