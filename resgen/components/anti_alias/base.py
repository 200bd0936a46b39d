"""What an anti-aliasing kind declares: the pool that takes a strided conv's stride."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class AntiAliasKind:
    """One anti-aliasing pool (Zhang 2019) as block classes, pages and templates see it.

    Its templates, ``templates/<backend>/anti_alias/<type>.py.j2``, print it in a block
    (PyTorch ``init(block, channels)``, Keras ``call(block)``) and after ResNet-RS's stem conv
    (``stem(aa)``, both backends). Its size follows its window: ``kernel`` and ``padding`` at
    stride 2.
    """

    type: str  # the spec's ``anti_alias`` word; also its templates' name
    choice: str  # its sentence in ``anti_alias``'s description
    phrase: str  # in the docstrings' prose ("a blur pool")
    kernel: int
    padding: int
    rounding: Literal["up", "down"]  # how it halves an odd size
    macs_per_output: int  # multiply-adds per output value and channel (timm's listing)
    # timm's rule: it also runs, at stride 1, where a dilated stage's dilation grows.
    dilation_grows: bool = False
    helper: str | None = None  # the class it builds (``templates/<backend>/helpers/<name>``)
