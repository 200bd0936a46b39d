"""The plan's layers: one frozen dataclass per layer that holds weights or takes a stride.

Each carries its names in both frameworks (from :mod:`resgen.components.naming`), its sizes, and its
exact parameter and multiply-accumulate counts, the figures ``resgen summary`` adds up. MACs follow
torchvision's convention, extended as timm's listing counts them (``FlopCounterMode``): every
convolution (those inside attention modules, see :mod:`resgen.components.attention`, and the
blur pool's depthwise filter included) and the classifier; pools, norms, activations, means and
gates count nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from resgen.components import naming
from resgen.components.anti_alias.base import AntiAliasKind
from resgen.components.norm.base import NormKind


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output size of a convolution or pooling window (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


def make_divisible(value: float, divisor: int) -> int:
    """timm's ``make_divisible(value, divisor, round_limit=0.)``: the nearest multiple of
    ``divisor`` (halves round up), never below ``divisor``."""
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


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
    def torch_attribute(self) -> str:
        """The last part of its PyTorch path: its attribute in the module holding it."""
        return self.torch_name.rpartition(".")[2]

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
    """One norm layer, of the network's norm kind (:mod:`resgen.components.norm`), with its
    names in both frameworks; its kind counts its parameters."""

    torch_name: str
    keras_name: str
    channels: int
    keras_act: str  # the suffix of the activation that follows it in Keras
    kind: NormKind

    @property
    def params(self) -> int:
        return self.kind.params(self.channels)

    @property
    def torch_children(self) -> int:
        """The modules it adds to a stem's ``nn.Sequential``: itself and the activation after
        it, or itself alone where its kind carries the nonlinearity (EvoNorm-S0, FRN)."""
        return 1 if self.kind.activates else 2

    @property
    def torch_attribute(self) -> str:
        """The last part of its PyTorch path: its attribute in the module holding it."""
        return self.torch_name.rpartition(".")[2]

    @property
    def keras_prefix(self) -> str:
        """The keras name without its ``_bn`` suffix: ``<prefix>_bn``, ``<prefix>_relu``."""
        return naming.keras_prefix(self.keras_name)

    @property
    def keras_relu(self) -> str:
        """The activation after this norm in Keras (``conv1_relu``; ``conv1_act`` if not ReLU)."""
        return self.keras_prefix + self.keras_act


@dataclass(frozen=True)
class AntiAlias:
    """An anti-aliasing pool (Zhang 2019) of its kind (:mod:`resgen.components.anti_alias`)
    that takes a stride of 2: a 2x2/2 average pool, or the blur pool's [1, 2, 1] x [1, 2, 1] /
    16 depthwise filter after reflect padding. No parameters; the blur pool's filter is a
    constant, not a weight. In a dilated stage's first block timm runs the blur at stride 1
    (``stride`` 1: the map keeps its size)."""

    kind: AntiAliasKind
    torch_name: str
    keras_name: str
    channels: int
    in_size: int
    stride: int = 2

    @property
    def out_size(self) -> int:
        if self.stride == 1:
            return self.in_size
        return conv_out(self.in_size, self.kind.kernel, 2, self.kind.padding)

    @property
    def rounding(self) -> Literal["up", "down"]:
        """How it halves an odd size (a stride-1 blur keeps sizes: up)."""
        return self.kind.rounding if self.stride == 2 else "up"

    @property
    def params(self) -> int:
        return 0

    @property
    def macs(self) -> int:
        """Its filter as a depthwise convolution (timm's listing counts the blur's); avg: none."""
        return self.kind.macs_per_output * self.channels * self.out_size * self.out_size
