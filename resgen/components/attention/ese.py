"""Effective squeeze-and-excitation (Lee and Park 2020, CenterMask), as timm's
``EffectiveSEModule`` (``attn_layer='ese'``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention.base import Attention, AttentionKind, Finding
from resgen.components.base import SpecModel
from resgen.components.layers import Conv


class EffectiveSqueezeExcitationSpec(SpecModel):
    """Effective squeeze-and-excitation (Lee and Park 2020, CenterMask): global average pool,
    one 1x1 conv keeping the width (with bias), hard-sigmoid gate scaling the channels (timm:
    `attn_layer='ese'`, EffectiveSEModule, key `se.fc`). It sits on the branch after its last
    norm, before the sum."""

    type: Literal["ese"] = Field(description="Picks effective squeeze-and-excitation.")


Spec = EffectiveSqueezeExcitationSpec


@dataclass(frozen=True)
class TorchNames:
    fc: str = "fc"


@dataclass(frozen=True)
class KerasNames:
    squeeze: str = naming.attention_suffix("ese", "squeeze")  # global average pool (keepdims)
    fc: str = naming.attention_suffix("ese", "fc")  # the 1x1 conv, with bias
    gate: str = naming.attention_suffix("ese", "gate")  # hard sigmoid
    excite: str = naming.attention_suffix("ese", "excite")  # the product


TORCH, KERAS = TorchNames(), KerasNames()

ORDER = 30  # where the registry lists it

KIND = AttentionKind(
    type="ese",
    arguments=(),
    sentence="effective squeeze-and-excitation on the branch",
    torch=TORCH,
    keras=KERAS,
    defines=("effective_squeeze_excitation",),
)


def check(spec: EffectiveSqueezeExcitationSpec) -> list[Finding]:
    return []


@dataclass(frozen=True)
class EffectiveSqueezeExcitation(Attention):
    """Effective SE on a block's branch: mean over the map, a 1x1 conv with bias, hard
    sigmoid, product."""

    KIND = KIND

    fc: Conv  # ``se.fc``

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        return ()

    @property
    def convs(self) -> tuple[Conv, ...]:
        return (self.fc,)

    @property
    def params(self) -> int:
        return self.fc.params

    @property
    def macs(self) -> int:
        return self.fc.macs


def plan(
    spec: EffectiveSqueezeExcitationSpec, names: naming.BlockNames, channels: int, size: int
) -> Attention:
    fc = names.attention_layer(TORCH.fc, KERAS.fc)
    conv = Conv(*fc, channels, channels, 1, 1, 1, bias=True, in_size=1)
    return EffectiveSqueezeExcitation(*names.attention, channels, conv)


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    yield ("conv", *names.attention_layer(TORCH.fc, KERAS.fc))
