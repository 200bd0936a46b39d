"""Coordinate attention (Hou et al. 2021), as timm's ``CoordAttn`` (``attn_layer='coord'``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention.base import Attention, AttentionKind, Finding
from resgen.components.base import SpecModel
from resgen.components.layers import Conv, make_divisible

SE_FACTOR = 2 / 3  # timm's se_factor: keeps the parameters near SE's


class CoordAttentionSpec(SpecModel):
    """Coordinate attention (Hou et al. 2021): the map's means along each row and each column,
    one bias-free 1x1 conv with batch norm and hard swish over both, then a bias-free 1x1 conv
    per direction and sigmoid gates along the height and along the width (timm:
    `attn_layer='coord'`, CoordAttn, keys `se.conv1`, `se.bn1`, `se.conv_h`, `se.conv_w`). It
    sits on the branch after its last norm, before the sum."""

    type: Literal["coord"] = Field(description="Picks coordinate attention.")
    ratio: float = Field(
        0.0625,
        gt=0,
        le=1,
        description="The hidden width is ratio x 2/3 x the block's output width, rounded to "
        "the nearest multiple of `divisor`, never below it (timm: `rd_ratio`, `se_factor`).",
    )
    divisor: int = Field(
        8, ge=1, le=1024, description="The hidden width is a multiple of this (timm: `rd_divisor`)."
    )


Spec = CoordAttentionSpec


@dataclass(frozen=True)
class TorchNames:
    conv1: str = "conv1"
    bn1: str = "bn1"
    conv_h: str = "conv_h"
    conv_w: str = "conv_w"


def _coord(part: str) -> str:
    return naming.attention_suffix("coord", part)


@dataclass(frozen=True)
class KerasNames:
    pool: str = _coord("pool")  # rows' and columns' means as one column of H + W positions
    conv1: str = _coord("conv1")
    bn1: str = _coord("bn1")
    act: str = _coord("act")  # hard swish
    split: str = _coord("split")  # back to the rows' and the columns' positions
    columns: str = _coord("columns")  # the columns' positions as one row
    conv_h: str = _coord("conv_h")
    conv_w: str = _coord("conv_w")
    gate_h: str = _coord("gate_h")
    gate_w: str = _coord("gate_w")
    excite: str = _coord("excite")


TORCH, KERAS = TorchNames(), KerasNames()

ORDER = 100  # where the registry lists it

KIND = AttentionKind(
    type="coord",
    arguments=("coord_channels",),
    sentence="coordinate attention on the branch",
    torch=TORCH,
    keras=KERAS,
    defines=("coordinate_attention", "CoordPool", "CoordSplit"),
    keras_layers=True,
)


def check(spec: CoordAttentionSpec) -> list[Finding]:
    return []


@dataclass(frozen=True)
class CoordAttention(Attention):
    """Coordinate attention on a block's branch: its 1x1 convs see H + W positions (conv1) or
    H and W (conv_h, conv_w); its batch norm has 2 h parameters."""

    KIND = KIND

    hidden: int
    conv1: Conv
    conv_h: Conv
    conv_w: Conv
    size: int

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        return (("coord_channels", self.hidden),)

    @property
    def params(self) -> int:
        return self.conv1.params + 2 * self.hidden + self.conv_h.params + self.conv_w.params

    @property
    def macs(self) -> int:
        per_position = self.conv1.params + self.conv_h.params  # C h each, no bias
        return 2 * self.size * per_position


def plan(spec: CoordAttentionSpec, names: naming.BlockNames, channels: int, size: int) -> Attention:
    hidden = make_divisible(channels * spec.ratio * SE_FACTOR, spec.divisor)

    def conv(attribute: str, suffix: str, cin: int, cout: int) -> Conv:
        return Conv(*names.attention_layer(attribute, suffix), cin, cout, 1, 1, 1, False, 1)

    return CoordAttention(
        *names.attention,
        channels,
        hidden,
        conv(TORCH.conv1, KERAS.conv1, channels, hidden),
        conv(TORCH.conv_h, KERAS.conv_h, hidden, channels),
        conv(TORCH.conv_w, KERAS.conv_w, hidden, channels),
        size,
    )


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    yield ("conv", *names.attention_layer(TORCH.conv1, KERAS.conv1))
    yield ("norm", *names.attention_layer(TORCH.bn1, KERAS.bn1))
    yield ("conv", *names.attention_layer(TORCH.conv_h, KERAS.conv_h))
    yield ("conv", *names.attention_layer(TORCH.conv_w, KERAS.conv_w))
