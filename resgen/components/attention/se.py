"""Squeeze-and-excitation (Hu et al. 2018), as timm's ``SEModule`` (``attn_layer='se'``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention.base import Attention, AttentionKind, Finding
from resgen.components.base import SpecModel
from resgen.components.layers import Conv, make_divisible


class SqueezeExcitationSpec(SpecModel):
    """Squeeze-and-excitation (Hu et al. 2018): global average pool, 1x1 conv to a hidden width,
    ReLU, 1x1 conv back, sigmoid gate scaling the channels (timm: `attn_layer='se'`, SEModule,
    keys `se.fc1`, `se.fc2`). It sits on the branch after its last norm, before the sum."""

    type: Literal["se"] = Field(description="Picks squeeze-and-excitation.")
    ratio: float = Field(
        0.0625,
        gt=0,
        le=1,
        description="Hidden width over the block's output width: 1/r for the paper's reduction "
        "ratio r (r = 16 is 0.0625; ResNet-RS uses 0.25) (timm: `rd_ratio`). The hidden width is "
        "ratio x channels rounded to the nearest multiple of `divisor`, never below it (timm's "
        "make_divisible with round_limit 0).",
    )
    hidden_channels: int | None = Field(
        None,
        ge=1,
        le=8192,
        description="A fixed hidden width for every block, in place of ratio and divisor "
        "(timm: `rd_channels`).",
    )
    divisor: int = Field(
        8,
        ge=1,
        le=1024,
        description="The hidden width is rounded to a multiple of this (timm: `rd_divisor`).",
    )


Spec = SqueezeExcitationSpec


@dataclass(frozen=True)
class TorchNames:
    reduce: str = "fc1"
    expand: str = "fc2"


@dataclass(frozen=True)
class KerasNames:
    """keras.applications' EfficientNet names its squeeze-and-excitation so."""

    squeeze: str = naming.attention_suffix("se", "squeeze")  # global average pool (keepdims)
    reduce: str = naming.attention_suffix("se", "reduce")  # 1x1 conv to the hidden width
    relu: str = naming.attention_suffix("se", "relu")
    expand: str = naming.attention_suffix("se", "expand")  # 1x1 conv back, with bias
    gate: str = naming.attention_suffix("se", "gate")  # sigmoid
    excite: str = naming.attention_suffix("se", "excite")  # the product


TORCH, KERAS = TorchNames(), KerasNames()

ORDER = 10  # where the registry lists it

KIND = AttentionKind(
    type="se",
    arguments=("se_channels",),
    sentence="squeeze-and-excitation on the branch",
    torch=TORCH,
    keras=KERAS,
    defines=("squeeze_excitation",),
)


def check(spec: SqueezeExcitationSpec) -> list[Finding]:
    """A fixed hidden width replaces ratio and divisor: give one or the other."""
    given = spec.model_fields_set & {"ratio", "divisor"}
    if spec.hidden_channels is not None and given:
        extra = " and ".join(sorted(given))
        message = f"a fixed hidden width replaces ratio and divisor; remove {extra}"
        return [(("hidden_channels",), message)]
    return []


@dataclass(frozen=True)
class SqueezeExcitation(Attention):
    """Squeeze-and-excitation on a block's branch (timm's SEModule): mean over the map, 1x1
    conv to ``hidden`` with bias, ReLU, 1x1 conv back with bias, sigmoid, product."""

    KIND = KIND

    hidden: int
    reduce: Conv  # ``se.fc1``
    expand: Conv  # ``se.fc2``

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        return (("se_channels", self.hidden),)

    @property
    def convs(self) -> tuple[Conv, ...]:
        return (self.reduce, self.expand)

    @property
    def params(self) -> int:
        return self.reduce.params + self.expand.params

    @property
    def macs(self) -> int:
        return self.reduce.macs + self.expand.macs


def plan(
    spec: SqueezeExcitationSpec, names: naming.BlockNames, channels: int, size: int
) -> Attention:
    hidden = spec.hidden_channels or make_divisible(channels * spec.ratio, spec.divisor)
    reduce = names.attention_layer(TORCH.reduce, KERAS.reduce)
    expand = names.attention_layer(TORCH.expand, KERAS.expand)
    return SqueezeExcitation(
        *names.attention,
        channels,
        hidden,
        Conv(*reduce, channels, hidden, 1, 1, 1, bias=True, in_size=1),
        Conv(*expand, hidden, channels, 1, 1, 1, bias=True, in_size=1),
    )


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    yield ("conv", *names.attention_layer(TORCH.reduce, KERAS.reduce))
    yield ("conv", *names.attention_layer(TORCH.expand, KERAS.expand))
