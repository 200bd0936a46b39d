"""The classic 3x3/2 max pool (torchvision, timm, keras.applications)."""

from __future__ import annotations

from dataclasses import dataclass

from resgen.components.layers import conv_out
from resgen.components.stem_pool.base import At, Rounding, StemPool, StemPoolKind

ORDER = 10
KIND = StemPoolKind(
    type="max",
    word="max",
    anti_alias=("none",),
    choice="max: a 3x3/2 max pool.",
    called="max pool",
    padding=True,
    keras_pad=True,
)


@dataclass(frozen=True)
class MaxPool(StemPool):
    """A 3x3/2 max pool; ``padding`` ignore (padded cells never win, PyTorch's), zeros, or ceil
    (no padding, the size rounded up: the last window may overhang the map, Caffe's pool)."""

    KIND = KIND

    padding: str

    @property
    def out_size(self) -> int:
        if self.ceil:
            return -(-(self.in_size - 3) // 2) + 1
        return conv_out(self.in_size, 3, 2, 1)

    @property
    def phrase(self) -> str:
        return "a 3x3/2 max pool (no padding, rounding up)" if self.ceil else "a 3x3/2 max pool"

    @property
    def ceil(self) -> bool:
        return self.padding == "ceil"

    @property
    def rounding(self) -> Rounding:
        """Without padding, rounding up halves an odd size down."""
        return "down" if self.ceil else "up"

    @property
    def zero_padded(self) -> bool:
        return self.padding == "zeros"


def plan(at: At) -> MaxPool:
    return MaxPool(at.channels, at.size, at.padding)
