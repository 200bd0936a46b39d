"""CBAM (Woo et al. 2018), as timm's ``CbamModule`` (``attn_layer='cbam'``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention.base import Attention, AttentionKind, Finding
from resgen.components.base import SpecModel
from resgen.components.layers import Conv, make_divisible

SPATIAL_KERNEL = 7  # timm's spatial_kernel_size


class CbamSpec(SpecModel):
    """CBAM (Woo et al. 2018): channel attention (a shared bias-free 1x1 MLP over the map's mean
    and its max, summed, sigmoid), then spatial attention (a 7x7 conv and batch norm over the
    channels' mean and max, sigmoid) (timm: `attn_layer='cbam'`, CbamModule, keys
    `se.channel.fc1`, `se.channel.fc2`, `se.spatial.conv.conv`, `se.spatial.conv.bn`). It sits
    on the branch after its last norm, before the sum."""

    type: Literal["cbam"] = Field(description="Picks CBAM.")
    ratio: float = Field(
        0.0625,
        gt=0,
        le=1,
        description="The MLP's hidden width over the block's output width, rounded to the "
        "nearest integer, at least 1 (timm: `rd_ratio`, `rd_divisor=1`).",
    )


Spec = CbamSpec


@dataclass(frozen=True)
class TorchNames:
    channel: str = "channel"
    spatial: str = "spatial"
    fc1: str = "fc1"
    fc2: str = "fc2"
    conv: str = "conv"  # the spatial ConvNormAct; its conv and bn are ``conv.conv``, ``conv.bn``
    bn: str = "bn"


def _cbam(part: str) -> str:
    return naming.attention_suffix("cbam", part)


@dataclass(frozen=True)
class KerasNames:
    avg: str = _cbam("avg")  # the map's mean (keepdims)
    max: str = _cbam("max")  # the map's max (keepdims)
    fc1: str = _cbam("fc1")  # the shared MLP: 1x1 to the hidden width, no bias
    relu: str = _cbam("relu")
    fc2: str = _cbam("fc2")  # 1x1 back, no bias
    sum: str = _cbam("sum")
    gate: str = _cbam("gate")
    channel: str = _cbam("channel")  # the channel-scaled map
    pool: str = _cbam("pool")  # the channels' mean and max, concatenated
    conv: str = _cbam("spatial_conv")  # 7x7 to one channel, no bias
    bn: str = _cbam("spatial_bn")
    spatial_gate: str = _cbam("spatial_gate")
    excite: str = _cbam("excite")


TORCH, KERAS = TorchNames(), KerasNames()

ORDER = 60  # where the registry lists it

KIND = AttentionKind(
    type="cbam",
    arguments=("cbam_channels",),
    sentence="CBAM's channel and spatial attention on the branch",
    torch=TORCH,
    keras=KERAS,
    defines=("cbam",),
    keras_ops=True,
)


def check(spec: CbamSpec) -> list[Finding]:
    return []


@dataclass(frozen=True)
class Cbam(Attention):
    """CBAM on a block's branch: the channel MLP runs twice (mean and max), the spatial 7x7
    conv once per pixel; its batch norm has 2 parameters."""

    KIND = KIND

    hidden: int
    fc1: Conv
    fc2: Conv
    spatial: Conv

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        return (("cbam_channels", self.hidden),)

    @property
    def convs(self) -> tuple[Conv, ...]:
        return (self.fc1, self.fc2, self.spatial)

    @property
    def params(self) -> int:
        return self.fc1.params + self.fc2.params + self.spatial.params + 2

    @property
    def macs(self) -> int:
        return 2 * (self.fc1.macs + self.fc2.macs) + self.spatial.macs


def layer_names(names: naming.BlockNames) -> dict[str, tuple[str, str]]:
    """Its weighted layers' (PyTorch path, Keras name); LightCBAM shares timm's paths, so it
    shares these."""
    channel, conv = f"{TORCH.channel}.", f"{TORCH.spatial}.{TORCH.conv}."
    return {
        "fc1": names.attention_layer(channel + TORCH.fc1, KERAS.fc1),
        "fc2": names.attention_layer(channel + TORCH.fc2, KERAS.fc2),
        "conv": names.attention_layer(conv + TORCH.conv, KERAS.conv),
        "bn": names.attention_layer(conv + TORCH.bn, KERAS.bn),
    }


def hidden_width(channels: int, ratio: float) -> int:
    """timm's ``make_divisible(C * ratio, 1, round_limit=0)``: the nearest integer, at least 1."""
    return make_divisible(channels * ratio, 1)


def plan(spec: CbamSpec, names: naming.BlockNames, channels: int, size: int) -> Attention:
    hidden = hidden_width(channels, spec.ratio)
    layer = layer_names(names)
    return Cbam(
        *names.attention,
        channels,
        hidden,
        Conv(*layer["fc1"], channels, hidden, 1, 1, 1, bias=False, in_size=1),
        Conv(*layer["fc2"], hidden, channels, 1, 1, 1, bias=False, in_size=1),
        Conv(*layer["conv"], 2, 1, SPATIAL_KERNEL, 1, 1, bias=False, in_size=size),
    )


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    layer = layer_names(names)
    for key in ("fc1", "fc2", "conv"):
        yield ("conv", *layer[key])
    yield ("norm", *layer["bn"])
