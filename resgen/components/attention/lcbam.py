"""Light CBAM (a timm experiment), as timm's ``LightCbamModule`` (``attn_layer='lcbam'``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention import cbam
from resgen.components.attention.base import Attention, AttentionKind, Finding
from resgen.components.layers import Conv


class LightCbamSpec(cbam.CbamSpec):
    """Light CBAM (timm's experiment): CBAM whose channel attention runs its bias-free 1x1 MLP
    once, on the mean of the map's mean and max, and whose spatial attention convolves (7x7,
    batch norm) the mean of the channels' mean and max (timm: `attn_layer='lcbam'`,
    LightCbamModule, CBAM's keys). It sits on the branch after its last norm, before the
    sum."""

    type: Literal["lcbam"] = Field(description="Picks light CBAM.")  # type: ignore[assignment]


Spec = LightCbamSpec


def _lcbam(part: str) -> str:
    return naming.attention_suffix("lcbam", part)


@dataclass(frozen=True)
class KerasNames:
    avg: str = _lcbam("avg")
    max: str = _lcbam("max")
    pool: str = _lcbam("pool")  # the mean of the two
    # timm's paths are CBAM's (``se.channel.fc1`` ...), and transfer pairs by PyTorch path
    # alone: the weighted layers take CBAM's Keras names.
    fc1: str = cbam.KERAS.fc1
    relu: str = _lcbam("relu")
    fc2: str = cbam.KERAS.fc2
    gate: str = _lcbam("gate")
    channel: str = _lcbam("channel")
    spatial_avg: str = _lcbam("spatial_avg")
    conv: str = cbam.KERAS.conv
    bn: str = cbam.KERAS.bn
    spatial_gate: str = _lcbam("spatial_gate")
    excite: str = _lcbam("excite")


TORCH, KERAS = cbam.TORCH, KerasNames()

ORDER = 70  # where the registry lists it

KIND = AttentionKind(
    type="lcbam",
    arguments=("lcbam_channels",),
    sentence="light CBAM's channel and spatial attention on the branch",
    torch=TORCH,
    keras=KERAS,
    defines=("light_cbam",),
    keras_ops=True,
)


def check(spec: LightCbamSpec) -> list[Finding]:
    return []


@dataclass(frozen=True)
class LightCbam(cbam.Cbam):
    """Light CBAM on a block's branch: CBAM's layers, but the channel MLP runs once (on the
    mean of mean and max), the spatial 7x7 conv (one input channel) once per pixel."""

    KIND = KIND

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        return (("lcbam_channels", self.hidden),)

    @property
    def macs(self) -> int:
        return self.fc1.macs + self.fc2.macs + self.spatial.macs


def plan(spec: LightCbamSpec, names: naming.BlockNames, channels: int, size: int) -> Attention:
    hidden = cbam.hidden_width(channels, spec.ratio)
    layer = cbam.layer_names(names)
    return LightCbam(
        *names.attention,
        channels,
        hidden,
        Conv(*layer["fc1"], channels, hidden, 1, 1, 1, bias=False, in_size=1),
        Conv(*layer["fc2"], hidden, channels, 1, 1, 1, bias=False, in_size=1),
        Conv(*layer["conv"], 1, 1, cbam.SPATIAL_KERNEL, 1, 1, bias=False, in_size=size),
    )


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: CBAM's."""
    return cbam.weights(names)
