"""Efficient channel attention (Wang et al. 2020), as timm's ``EcaModule``
(``attn_layer='eca'``)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from resgen.components import naming
from resgen.components.attention.base import Attention, AttentionKind, Finding
from resgen.components.base import SpecModel


class EfficientChannelAttentionSpec(SpecModel):
    """Efficient channel attention (Wang et al. 2020, ECA-Net): global average pool, a 1-D conv
    of k taps across the channels (no bias), sigmoid gate (timm: `attn_layer='eca'`,
    EcaModule, key `se.conv`). It sits on the branch after its last norm, before the sum."""

    type: Literal["eca"] = Field(description="Picks efficient channel attention.")
    kernel_size: int | None = Field(
        None,
        ge=1,
        le=255,
        description="Taps of the 1-D conv, odd; by default chosen from the block's output width "
        "C as ECA-Net does: t = int(|log2(C) + beta| / gamma), made odd (t + 1 if even), at "
        "least 3 (timm: `kernel_size`; computed with math.log(C, 2) as timm does). At most 255: "
        "the adaptive rule gives 9 at 65,536 channels.",
    )
    gamma: int = Field(
        2, ge=1, le=64, description="The adaptive kernel's divisor gamma (timm: `gamma`)."
    )
    beta: int = Field(1, ge=0, le=64, description="The adaptive kernel's offset b (timm: `beta`).")

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, value: int | None) -> int | None:
        if value is not None and value % 2 == 0:
            raise ValueError(
                f"must be odd (the conv keeps the channel count with equal padding), got {value}"
            )
        return value


Spec = EfficientChannelAttentionSpec


@dataclass(frozen=True)
class TorchNames:
    conv: str = "conv"


@dataclass(frozen=True)
class KerasNames:
    squeeze: str = naming.attention_suffix("eca", "squeeze")
    signal: str = naming.attention_suffix("eca", "signal")  # the channels as a 1-D signal
    conv: str = naming.attention_suffix("eca", "conv")  # the 1-D conv across channels, no bias
    gate: str = naming.attention_suffix("eca", "gate")
    reshape: str = naming.attention_suffix("eca", "reshape")  # the gates back to 1 x 1 x C
    excite: str = naming.attention_suffix("eca", "excite")


TORCH, KERAS = TorchNames(), KerasNames()

ORDER = 20  # where the registry lists it

KIND = AttentionKind(
    type="eca",
    arguments=("eca_kernel",),
    sentence="efficient channel attention (ECA) on the branch",
    torch=TORCH,
    keras=KERAS,
    defines=("efficient_channel_attention",),
)


def check(spec: EfficientChannelAttentionSpec) -> list[Finding]:
    """A fixed kernel replaces the adaptive rule: give one or the other."""
    given = spec.model_fields_set & {"gamma", "beta"}
    if spec.kernel_size is not None and given:
        extra = " and ".join(sorted(given))
        return [
            (
                ("kernel_size",),
                f"a fixed kernel replaces the adaptive rule's gamma and beta; remove {extra}",
            )
        ]
    return []


def adaptive_kernel(channels: int, gamma: int, beta: int) -> int:
    """ECA-Net's adaptive kernel as timm computes it: ``t = int(|log(C, 2) + beta| / gamma)``,
    made odd, at least 3 (``math.log(C, 2)``, not ``log2``, exactly as timm's EcaModule)."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


@dataclass(frozen=True)
class EfficientChannelAttention(Attention):
    """ECA on a block's branch (timm's EcaModule): mean over the map, a bias-free 1-D conv of
    ``kernel`` taps across the channels (zero-padded), sigmoid, product."""

    KIND = KIND

    kernel: int
    conv_torch_name: str  # ``layer1.0.se.conv``
    conv_keras_name: str  # ``conv2_block1_eca_conv``

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        return (("eca_kernel", self.kernel),)

    @property
    def padding(self) -> int:
        return self.kernel // 2

    @property
    def params(self) -> int:
        return self.kernel

    @property
    def macs(self) -> int:
        return self.kernel * self.channels


def plan(
    spec: EfficientChannelAttentionSpec, names: naming.BlockNames, channels: int, size: int
) -> Attention:
    kernel = spec.kernel_size
    if kernel is None:
        kernel = adaptive_kernel(channels, spec.gamma, spec.beta)
    conv = names.attention_layer(TORCH.conv, KERAS.conv)
    return EfficientChannelAttention(*names.attention, channels, kernel, *conv)


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    yield ("conv1d", *names.attention_layer(TORCH.conv, KERAS.conv))
