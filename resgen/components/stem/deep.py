"""The deep stem (ResNet-C, Bag of Tricks; timm's ``stem_type='deep'``): three 3x3 convs in one
``nn.Sequential``, then the pool; ``stem.widths`` gives timm's tiered stem."""

from __future__ import annotations

from typing import Any

from resgen.components.stem.base import Finding, StemKind

ORDER = 30
KIND = StemKind(
    type="deep",
    choice="deep (ResNet-C): three 3x3 convs (channels/2 with stride 2, channels/2, channels), "
    "norm and ReLU after each, then the max pool.",
    phrase="a deep stem (three 3x3 convs, ResNet-C)",
    kernel=3,
    first_stride=2,
    convs=3,
    takes_widths=True,
)


def _default(channels: int) -> tuple[int, ...]:
    return (channels // 2, channels // 2, channels)


def widths(spec: Any) -> tuple[int, ...]:
    """``stem.widths``, else channels/2, channels/2, channels."""
    return _default(spec.channels) if spec.widths is None else tuple(spec.widths)


def check(spec: Any) -> list[Finding]:
    if spec.widths is None and spec.channels % 2:
        return [
            (
                ("channels",),
                "a deep stem halves its width in the first two convs; use an even number, not "
                f"{spec.channels}",
            )
        ]
    return []


def phrase(widths: tuple[int, ...]) -> str:
    if widths != _default(widths[-1]):
        return f"a deep stem (3x3 convs of {widths[0]}, {widths[1]} and {widths[2]} channels)"
    return KIND.phrase
