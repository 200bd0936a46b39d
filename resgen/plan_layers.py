"""The plan's layers: one frozen dataclass per layer that holds weights or takes a stride.

Each carries its names in both frameworks (from :mod:`resgen.naming`), its sizes, and its exact
parameter and multiply-accumulate counts, the figures ``resgen summary`` adds up. MACs follow
torchvision's convention, extended as timm's listing counts them (``FlopCounterMode``): every
convolution (the squeeze-and-excitation 1x1s, ECA's 1-D conv and the blur pool's depthwise filter
included) and the classifier; pools, norms, activations, means and gates count nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from resgen import naming

AntiAliasKind = Literal["avg", "blur"]

BLUR_KERNEL = 3  # timm's BlurPool2d default: the [1, 2, 1] binomial filter
BLUR_PADDING = 1  # reflect padding on every side
AVG_KERNEL = 2  # timm's AvgPool2d(2): 2x2 windows, stride 2, no padding (rounds down)


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output size of a convolution or pooling window (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


def make_divisible(value: float, divisor: int) -> int:
    """timm's ``make_divisible(value, divisor, round_limit=0.)``: the nearest multiple of
    ``divisor`` (halves round up), never below ``divisor``."""
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


def eca_kernel(channels: int, gamma: int, beta: int) -> int:
    """ECA-Net's adaptive kernel as timm computes it: ``t = int(|log(C, 2) + beta| / gamma)``,
    made odd, at least 3 (``math.log(C, 2)``, not ``log2``, exactly as timm's EcaModule)."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


def anti_alias_out(size: int, kind: AntiAliasKind) -> int:
    """A stride-2 anti-aliasing pool's output size: avg rounds down, blur rounds up."""
    if kind == "avg":
        return conv_out(size, AVG_KERNEL, 2, 0)
    return conv_out(size, BLUR_KERNEL, 2, BLUR_PADDING)


@dataclass(frozen=True)
class Conv:
    """One convolution, with its names in both frameworks."""

    torch_name: str
    keras_name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    groups: int
    bias: bool
    in_size: int

    @property
    def padding(self) -> int:
        return self.kernel // 2

    @property
    def strided(self) -> bool:
        return self.stride != 1

    @property
    def keras_prefix(self) -> str:
        """The keras name without its ``_conv`` suffix: ``<prefix>_pad``, ``<prefix>_conv``."""
        return naming.keras_prefix(self.keras_name)

    @property
    def out_size(self) -> int:
        return conv_out(self.in_size, self.kernel, self.stride, self.padding)

    @property
    def params(self) -> int:
        weights = self.kernel * self.kernel * (self.in_channels // self.groups) * self.out_channels
        return weights + (self.out_channels if self.bias else 0)

    @property
    def macs(self) -> int:
        per_pixel = (
            self.kernel * self.kernel * (self.in_channels // self.groups) * self.out_channels
        )
        return per_pixel * self.out_size * self.out_size


@dataclass(frozen=True)
class Norm:
    """One norm layer (affine: a weight and a bias per channel), with its names in both
    frameworks. Batch or group norm: the network's ``norm_kind`` says which."""

    torch_name: str
    keras_name: str
    channels: int
    keras_act: str = naming.RELU  # the suffix of the activation that follows it in Keras

    @property
    def params(self) -> int:
        return 2 * self.channels

    @property
    def keras_prefix(self) -> str:
        """The keras name without its ``_bn`` suffix: ``<prefix>_bn``, ``<prefix>_relu``."""
        return naming.keras_prefix(self.keras_name)

    @property
    def keras_relu(self) -> str:
        """The activation after this norm in Keras (``conv1_relu``; ``conv1_act`` if not ReLU)."""
        return self.keras_prefix + self.keras_act


@dataclass(frozen=True)
class SqueezeExcitation:
    """Squeeze-and-excitation on a block's branch (timm's SEModule): mean over the map, 1x1
    conv to ``hidden`` with bias, ReLU, 1x1 conv back with bias, sigmoid, product."""

    torch_name: str  # the module: ``layer1.0.se``
    keras_name: str  # the prefix of its Keras layers: ``conv2_block1``
    channels: int
    hidden: int
    reduce: Conv  # ``se.fc1``
    expand: Conv  # ``se.fc2``
    kind: Literal["se"] = "se"

    @property
    def params(self) -> int:
        return self.reduce.params + self.expand.params

    @property
    def macs(self) -> int:
        return self.reduce.macs + self.expand.macs


@dataclass(frozen=True)
class EfficientChannelAttention:
    """ECA on a block's branch (timm's EcaModule): mean over the map, a bias-free 1-D conv of
    ``kernel`` taps across the channels (zero-padded), sigmoid, product."""

    torch_name: str  # the module: ``layer1.0.se`` (timm's name, for ECA too)
    keras_name: str  # the prefix of its Keras layers: ``conv2_block1``
    channels: int
    kernel: int
    conv_torch_name: str  # ``layer1.0.se.conv``
    conv_keras_name: str  # ``conv2_block1_eca_conv``
    kind: Literal["eca"] = "eca"

    @property
    def padding(self) -> int:
        return self.kernel // 2

    @property
    def params(self) -> int:
        return self.kernel

    @property
    def macs(self) -> int:
        return self.kernel * self.channels


Attention = SqueezeExcitation | EfficientChannelAttention


@dataclass(frozen=True)
class AntiAlias:
    """A stride-2 anti-aliasing pool (Zhang 2019): a 2x2/2 average pool, or the blur pool's
    [1, 2, 1] x [1, 2, 1] / 16 depthwise filter after reflect padding. No parameters; the blur
    pool's filter is a constant, not a weight."""

    kind: AntiAliasKind
    torch_name: str
    keras_name: str
    channels: int
    in_size: int

    @property
    def avg(self) -> bool:
        return self.kind == "avg"

    @property
    def blur(self) -> bool:
        return self.kind == "blur"

    @property
    def out_size(self) -> int:
        return anti_alias_out(self.in_size, self.kind)

    @property
    def params(self) -> int:
        return 0

    @property
    def macs(self) -> int:
        """The blur filter as a depthwise convolution (timm's listing counts it); avg: none."""
        if self.kind == "avg":
            return 0
        return BLUR_KERNEL * BLUR_KERNEL * self.channels * self.out_size * self.out_size
