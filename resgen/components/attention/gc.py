"""Global context (Cao et al. 2019, GCNet), as timm's ``GlobalContext``
(``attn_layer='gc'``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention.base import Attention, AttentionKind, Finding
from resgen.components.base import SpecModel
from resgen.components.layers import Conv, make_divisible

LAYER_NORM_EPS = 1e-6  # timm's LayerNorm2d


class GlobalContextSpec(SpecModel):
    """Global context (Cao et al. 2019, GCNet): a 1x1 conv with softmax over the map weighs
    its pixels into one context vector, which a 1x1 MLP with layer norm turns into a sigmoid
    gate scaling the channels (timm: `attn_layer='gc'`, GlobalContext, keys `se.conv_attn`,
    `se.mlp_scale.fc1`, `.norm`, `.fc2`). It sits on the branch after its last norm, before
    the sum."""

    type: Literal["gc"] = Field(description="Picks global context (scaling).")
    ratio: float = Field(
        0.125,
        gt=0,
        le=1,
        description="The MLP's hidden width over the block's output width, rounded to the "
        "nearest integer, at least 1 (timm: `rd_ratio`, `rd_divisor=1`).",
    )


Spec = GlobalContextSpec


@dataclass(frozen=True)
class TorchNames:
    attn: str = "conv_attn"
    mlp: str = "mlp_scale"  # gca: ``mlp_add``
    fc1: str = "fc1"
    norm: str = "norm"
    fc2: str = "fc2"


def _gc(part: str) -> str:
    return naming.attention_suffix("gc", part)


@dataclass(frozen=True)
class KerasNames:
    attn: str = _gc("attn")  # 1x1 conv to one channel, with bias
    weights: str = _gc("weights")  # the pixels' weights: flattened, softmax
    softmax: str = _gc("softmax")
    pixels: str = _gc("pixels")  # the map as (pixels, channels)
    context: str = _gc("context")  # the weighted sum
    reshape: str = _gc("reshape")  # the context as 1 x 1 x C
    fc1: str = _gc("fc1")
    norm: str = _gc("norm")  # layer norm
    relu: str = _gc("relu")
    fc2: str = _gc("fc2")
    gate: str = _gc("gate")
    excite: str = _gc("excite")


TORCH, KERAS = TorchNames(), KerasNames()

ORDER = 80  # where the registry lists it

KIND = AttentionKind(
    type="gc",
    arguments=("gc_channels",),
    sentence="global context (GCNet) scaling the branch's channels",
    torch=TORCH,
    keras=KERAS,
    defines=("global_context",),
)


def check(spec: GlobalContextSpec) -> list[Finding]:
    return []


@dataclass(frozen=True)
class GlobalContext(Attention):
    """Global context on a block's branch. MACs count its three convolutions; the context's
    weighted sum is no convolution (as pools and means are not counted)."""

    KIND = KIND

    hidden: int
    attn: Conv
    fc1: Conv
    fc2: Conv

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        return ((f"{self.KIND.type}_channels", self.hidden),)

    @property
    def convs(self) -> tuple[Conv, ...]:
        return (self.attn, self.fc1, self.fc2)

    @property
    def params(self) -> int:
        return self.attn.params + self.fc1.params + 2 * self.hidden + self.fc2.params

    @property
    def macs(self) -> int:
        return self.attn.macs + self.fc1.macs + self.fc2.macs


def layer_names(
    names: naming.BlockNames, torch: TorchNames, keras: KerasNames
) -> dict[str, tuple[str, str]]:
    """Its weighted layers' (PyTorch path, Keras name), for ``gc``'s or ``gca``'s MLP."""
    mlp = f"{torch.mlp}."
    return {
        "attn": names.attention_layer(torch.attn, keras.attn),
        "fc1": names.attention_layer(mlp + torch.fc1, keras.fc1),
        "norm": names.attention_layer(mlp + torch.norm, keras.norm),
        "fc2": names.attention_layer(mlp + torch.fc2, keras.fc2),
    }


def hidden_width(channels: int, ratio: float) -> int:
    """timm's ``make_divisible(C * ratio, 1, round_limit=0)``: the nearest integer, at least 1."""
    return make_divisible(channels * ratio, 1)


def planned(
    record: type[GlobalContext],
    layer: dict[str, tuple[str, str]],
    names: naming.BlockNames,
    channels: int,
    hidden: int,
    size: int,
) -> Attention:
    """The record of ``gc`` or ``gca`` (the same layers; the MLP's output is used apart)."""
    return record(
        *names.attention,
        channels,
        hidden,
        Conv(*layer["attn"], channels, 1, 1, 1, 1, bias=True, in_size=size),
        Conv(*layer["fc1"], channels, hidden, 1, 1, 1, bias=True, in_size=1),
        Conv(*layer["fc2"], hidden, channels, 1, 1, 1, bias=True, in_size=1),
    )


def plan(spec: GlobalContextSpec, names: naming.BlockNames, channels: int, size: int) -> Attention:
    layer = layer_names(names, TORCH, KERAS)
    hidden = hidden_width(channels, spec.ratio)
    return planned(GlobalContext, layer, names, channels, hidden, size)


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    layer = layer_names(names, TORCH, KERAS)
    for key in ("attn", "fc1", "norm", "fc2"):
        yield ("norm" if key == "norm" else "conv", *layer[key])
