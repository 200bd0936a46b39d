"""torchvision's and timm's default stem: a 7x7/2 conv, norm, activation, then the pool."""

from __future__ import annotations

from typing import Any

from resgen.components.stem.base import Finding, StemKind

ORDER = 10
KIND = StemKind(
    type="imagenet",
    choice="imagenet: 7x7/2 conv, norm, ReLU, 3x3/2 max pool.",
    phrase="a 7x7/2 conv stem",
    kernel=7,
    first_stride=2,
    convs=1,
)


def widths(spec: Any) -> tuple[int, ...]:
    return (spec.channels,)


def check(spec: Any) -> list[Finding]:
    return []


def phrase(widths: tuple[int, ...]) -> str:
    return KIND.phrase
