"""Circular ECA, as timm's ``CecaModule`` (``attn_layer='ceca'``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention import eca
from resgen.components.attention.base import Attention, AttentionKind, Finding


class CircularEcaSpec(eca.EfficientChannelAttentionSpec):
    """Circular efficient channel attention (timm): ECA whose 1-D conv across the channels pads
    circularly, the last channels before the first and the first after the last, instead of
    with zeros (timm: `attn_layer='ceca'`, CecaModule, key `se.conv`). It sits on the branch
    after its last norm, before the sum."""

    type: Literal["ceca"] = Field(description="Picks circular ECA.")  # type: ignore[assignment]


Spec = CircularEcaSpec


@dataclass(frozen=True)
class TorchNames:
    conv: str = "conv"


@dataclass(frozen=True)
class KerasNames:
    squeeze: str = naming.attention_suffix("ceca", "squeeze")
    signal: str = naming.attention_suffix("ceca", "signal")  # the channels as a 1-D signal
    pad: str = naming.attention_suffix("ceca", "pad")  # circular padding
    # timm names the conv ``se.conv`` as ECA does, and transfer pairs by PyTorch path alone.
    conv: str = eca.KERAS.conv
    gate: str = naming.attention_suffix("ceca", "gate")
    reshape: str = naming.attention_suffix("ceca", "reshape")  # the gates back to 1 x 1 x C
    excite: str = naming.attention_suffix("ceca", "excite")


TORCH, KERAS = TorchNames(), KerasNames()

ORDER = 50  # where the registry lists it

KIND = AttentionKind(
    type="ceca",
    arguments=("ceca_kernel",),
    sentence="circular efficient channel attention (CECA) on the branch",
    torch=TORCH,
    keras=KERAS,
    defines=("circular_eca",),
)


def check(spec: CircularEcaSpec) -> list[Finding]:
    """As ECA: a fixed kernel replaces the adaptive rule."""
    return eca.check(spec)


@dataclass(frozen=True)
class CircularEca(Attention):
    """Circular ECA on a block's branch: mean over the map, circular padding, a bias-free 1-D
    conv of ``kernel`` taps across the channels, sigmoid, product."""

    KIND = KIND

    kernel: int

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        return (("ceca_kernel", self.kernel),)

    @property
    def params(self) -> int:
        return self.kernel

    @property
    def macs(self) -> int:
        return self.kernel * self.channels


def plan(spec: CircularEcaSpec, names: naming.BlockNames, channels: int, size: int) -> Attention:
    kernel = spec.kernel_size
    if kernel is None:
        kernel = eca.adaptive_kernel(channels, spec.gamma, spec.beta)
    return CircularEca(*names.attention, channels, kernel)


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    yield ("conv1d", *names.attention_layer(TORCH.conv, KERAS.conv))
