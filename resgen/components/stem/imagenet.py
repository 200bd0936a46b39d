"""torchvision's and timm's default stem: a 7x7/2 conv, norm, activation, then the pool."""

from __future__ import annotations

from resgen.components.stem.base import StemKind

ORDER = 10
KIND = StemKind(
    type="imagenet",
    choice="imagenet: 7x7/2 conv, norm, ReLU, 3x3/2 max pool.",
    phrase="a 7x7/2 conv stem",
    kernel=7,
    first_stride=2,
    convs=1,
)
