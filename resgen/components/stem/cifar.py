"""The CIFAR stem (He et al. 2015): a 3x3/1 conv, norm, activation, and no pool."""

from __future__ import annotations

from typing import Any

from resgen.components.stem.base import Finding, StemKind

ORDER = 20
KIND = StemKind(
    type="cifar",
    choice="cifar: 3x3/1 conv, norm, ReLU.",
    phrase="a 3x3 conv stem",
    kernel=3,
    first_stride=1,
    convs=1,
    pool=False,
)


def widths(spec: Any) -> tuple[int, ...]:
    return (spec.channels,)


def check(spec: Any) -> list[Finding]:
    return []


def phrase(widths: tuple[int, ...]) -> str:
    return KIND.phrase
