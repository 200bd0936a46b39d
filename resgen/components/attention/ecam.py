"""ECA with an MLP (a timm experiment), as timm's ``EcaModule(use_mlp=True)``
(``attn_layer='ecam'``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention import eca
from resgen.components.attention.base import Attention, AttentionKind, Finding
from resgen.components.layers import make_divisible


class EcaMlpSpec(eca.EfficientChannelAttentionSpec):
    """ECA with an MLP (timm's experiment, not in the paper): global average pool, then across
    the channels a 1-D conv of 1 tap to a hidden width (with bias), ReLU, a 1-D conv of k taps
    back to one (with bias), sigmoid gate (timm: `attn_layer='ecam'`, EcaModule(use_mlp=True),
    keys `se.conv`, `se.conv2`). It sits on the branch after its last norm, before the sum."""

    type: Literal["ecam"] = Field(description="Picks ECA with an MLP.")  # type: ignore[assignment]
    ratio: float = Field(
        0.125,
        gt=0,
        le=1,
        description="Hidden width over the block's output width, rounded to a multiple of "
        "`divisor` (timm: `rd_ratio`).",
    )
    divisor: int = Field(
        8, ge=1, le=1024, description="The hidden width is a multiple of this (timm: `rd_divisor`)."
    )


Spec = EcaMlpSpec


@dataclass(frozen=True)
class TorchNames:
    conv: str = "conv"
    conv2: str = "conv2"


@dataclass(frozen=True)
class KerasNames:
    squeeze: str = naming.attention_suffix("ecam", "squeeze")
    signal: str = naming.attention_suffix("ecam", "signal")  # the channels as a 1-D signal
    # 1 tap to the hidden width. Transfer pairs layers by PyTorch path alone, and timm names
    # this conv ``se.conv`` as ECA does: it takes ECA's Keras name.
    conv: str = eca.KERAS.conv
    relu: str = naming.attention_suffix("ecam", "relu")
    conv2: str = naming.attention_suffix("ecam", "conv2")  # k taps back to one
    gate: str = naming.attention_suffix("ecam", "gate")
    reshape: str = naming.attention_suffix("ecam", "reshape")  # the gates back to 1 x 1 x C
    excite: str = naming.attention_suffix("ecam", "excite")


TORCH, KERAS = TorchNames(), KerasNames()

ORDER = 40  # where the registry lists it

KIND = AttentionKind(
    type="ecam",
    arguments=("ecam_channels", "ecam_kernel"),
    sentence="efficient channel attention with an MLP (ECA-MLP) on the branch",
    torch=TORCH,
    keras=KERAS,
    defines=("eca_mlp",),
)


def check(spec: EcaMlpSpec) -> list[Finding]:
    """As ECA: a fixed kernel replaces the adaptive rule."""
    return eca.check(spec)


@dataclass(frozen=True)
class EcaMlp(Attention):
    """ECA-MLP on a block's branch: mean over the map; across the channels a 1-tap conv to
    ``hidden`` with bias, ReLU, a ``kernel``-tap conv back to one with bias; sigmoid, product."""

    KIND = KIND

    hidden: int
    kernel: int

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        return (("ecam_channels", self.hidden), ("ecam_kernel", self.kernel))

    @property
    def params(self) -> int:
        return 2 * self.hidden + self.hidden * self.kernel + 1

    @property
    def macs(self) -> int:
        return self.hidden * self.channels * (1 + self.kernel)


def plan(spec: EcaMlpSpec, names: naming.BlockNames, channels: int, size: int) -> Attention:
    kernel = spec.kernel_size
    if kernel is None:
        kernel = eca.adaptive_kernel(channels, spec.gamma, spec.beta)
    hidden = make_divisible(channels * spec.ratio, spec.divisor)
    return EcaMlp(*names.attention, channels, hidden, kernel)


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    yield ("conv1d", *names.attention_layer(TORCH.conv, KERAS.conv))
    yield ("conv1d", *names.attention_layer(TORCH.conv2, KERAS.conv2))
