"""RegNet's stem (Radosavovic et al. 2020; timm's regnet.py): a 3x3/2 conv, norm, activation,
and no pool (32 channels in timm: ``stem_width``)."""

from __future__ import annotations

from resgen.components.stem.base import StemKind

ORDER = 40
KIND = StemKind(
    type="regnet",
    choice="regnet: 3x3/2 conv, norm, activation, no pool (RegNet's stem, 32 channels in timm: "
    "`stem_width`).",
    phrase="a 3x3/2 conv stem",
    kernel=3,
    first_stride=2,
    convs=1,
    pool=False,
)
