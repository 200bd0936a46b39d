"""The CIFAR stem (He et al. 2015): a 3x3/1 conv, norm, activation, and no pool."""

from __future__ import annotations

from resgen.components.stem.base import StemKind

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
