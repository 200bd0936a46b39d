"""What a shortcut kind declares: when a block's shortcut is not the identity, and what it is
there; and the shortcut's planned layers (the module, which the spec's ``shortcut`` picks).

A kind module (``none.py``, ``always.py``, ``on_shape_change.py``, ``on_width_change.py``)
declares ``ORDER`` and ``KIND``, an instance of its own :class:`When` subclass: its ``when``
(which also names its templates ``templates/<backend>/shortcuts/<when>.py.j2``), whether the
block adds a shortcut at all, its clause in the description, which spec words select it
(``selects``) and what it puts on one block (``on``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from resgen.components import naming
from resgen.components.layers import Conv, Norm

# What one block's shortcut is: the identity, the rule's module (option A's zero padding, a
# projection, ResNet-D's pooled projection), a subsampled identity, or nothing at all.
BlockShortcut = Literal["identity", "zero_pad", "projection", "avg_projection", "subsample", "none"]

# What replaces the identity where a rule applies (the spec's ``shortcut`` word, option C's
# ``always_projection`` being a projection).
Module = Literal["zero_pad", "projection", "avg_projection"]


@dataclass(frozen=True)
class When:
    """One shortcut kind: when a block's shortcut is its module rather than the identity."""

    when: str  # the kind's name; also its templates' (``<backend>/shortcuts/<when>.py.j2``)
    residual: bool = True  # the block adds a shortcut (False: the plain network)
    clause: str = ""  # appended to the description's shortcut sentence

    def selects(self, policy: str, stride_shortcut: str) -> bool:
        """Whether the spec's ``shortcut`` and ``stride_shortcut`` pick this kind (exactly one
        kind selects any pair)."""
        raise NotImplementedError

    def on(self, module: Module, in_channels: int, out_channels: int, stride: int) -> BlockShortcut:
        """What this kind puts on a block mapping ``in_channels`` to ``out_channels`` at
        ``stride``."""
        raise NotImplementedError


def same_shape(in_channels: int, out_channels: int, stride: int) -> bool:
    return in_channels == out_channels and stride == 1


@dataclass(frozen=True)
class ShortcutRule:
    """A block class's shortcut as one rule: identity unless its kind says otherwise, then the
    module (``zero_pad``, a projection, ResNet-D's ``pool`` then a projection)."""

    policy: str  # the spec's word, for the prose
    rule: When  # the kind
    zero_pad: bool  # the module is option A's parameter-free zero padding, not a projection
    pool: bool  # the projection starts with ResNet-D's 2x2 average pool where strided
    bias: bool  # the projection conv's bias
    norm: bool  # a norm (the network's kind) after the projection conv
    source: Literal["x", "preact"]  # the variable the module reads
    kernel: int = 1  # the projection conv's kernel where it strides (stride 1: always 1x1)

    @property
    def when(self) -> str:
        """The kind's name: which ``templates/<backend>/shortcuts/`` template prints it."""
        return self.rule.when

    @property
    def residual(self) -> bool:
        """False for the plain network: the branch's output is the block's output."""
        return self.rule.residual

    @property
    def module(self) -> Module:
        if self.zero_pad:
            return "zero_pad"
        return "avg_projection" if self.pool else "projection"

    def kind(self, in_channels: int, out_channels: int, stride: int) -> BlockShortcut:
        """What the rule puts on a block that maps ``in_channels`` to ``out_channels`` at
        ``stride``."""
        return self.rule.on(self.module, in_channels, out_channels, stride)

    @property
    def wide_kernel(self) -> bool:
        """Strided projections use a wider kernel than 1x1 (SENet-154's 3x3)."""
        return self.kernel != 1

    @property
    def plain(self) -> bool:
        """A 1x1 conv and its norm (none in a pre-activation block), nothing before them (what
        a dialect may name, as timm's regnet.py names ``downsample.conv`` and ``downsample.bn``
        and its resnetv2.py ``downsample.conv``)."""
        return not (self.zero_pad or self.pool or self.wide_kernel)


@dataclass(frozen=True)
class ShortcutLayers:
    """A block's shortcut layers: a projection's conv and norm (none for the other shortcuts,
    no norm in pre-activation blocks)."""

    convs: tuple[Conv, ...] = ()
    norms: tuple[Norm, ...] = ()


def plan(
    rule: ShortcutRule,
    names: naming.BlockNames,
    shortcut: BlockShortcut,
    in_channels: int,
    out_channels: int,
    stride: int,
    size: int,
    dilation: int,
    norm: Callable[[str, str, int], Norm],
) -> ShortcutLayers:
    """A projection shortcut's conv (after ResNet-D's pool where strided) and its norm; no
    layers for the other shortcuts. A wide projection kernel (SENet-154's 3x3) is used where
    the block strides or, in a dilated stage, dilates. ``norm`` builds a norm of the network's
    kind (torch name, keras name, channels)."""
    if shortcut not in ("projection", "avg_projection"):
        return ShortcutLayers()
    pooled = shortcut == "avg_projection" and stride > 1
    wide = (stride != 1 or dilation != 1) and not pooled
    conv_torch, conv_keras, norm_torch, norm_keras = names.projection(
        avg=shortcut == "avg_projection"
    )
    conv = Conv(
        torch_name=conv_torch,
        keras_name=conv_keras,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel=rule.kernel if wide else 1,
        stride=1 if pooled else stride,
        groups=1,
        bias=rule.bias,
        in_size=(size + 1) // 2 if pooled else size,
    )
    norms = (norm(norm_torch, norm_keras, out_channels),) if rule.norm else ()
    return ShortcutLayers((conv,), norms)


def weights(names: naming.BlockNames) -> list[tuple[str, str, str]]:
    """A projection's conv and norm, after ResNet-D's pool or not: (layer kind, PyTorch path,
    Keras name)."""
    out = []
    for avg in (False, True):
        conv_torch, conv_keras, norm_torch, norm_keras = names.projection(avg=avg)
        out += [("conv", conv_torch, conv_keras), ("norm", norm_torch, norm_keras)]
    return out
