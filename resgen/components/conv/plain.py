"""The framework's own conv (``nn.Conv2d``, Keras' ``Conv2D``): every network's default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components.base import SpecModel
from resgen.components.conv.base import ConvKind, ConvSettings, no_rules

ORDER = 10
KIND = ConvKind(
    type="plain",
    choice="`{type: plain}`, the framework's own conv (the default)",
    torch_class="nn.Conv2d",
    torch_layer="Conv2d",
    keras_class="layers.Conv2D",
    keras_layer="Conv2D",
)


class PlainConvSpec(SpecModel):
    """The framework's own conv: `nn.Conv2d`, Keras' `Conv2D`."""

    type: Literal["plain"] = Field("plain", description="Picks the framework's own conv.")


Spec = PlainConvSpec


@dataclass(frozen=True)
class PlainConv(ConvSettings):
    """No settings: the framework's conv as it is."""

    KIND = KIND


check = no_rules


def settings(spec: PlainConvSpec) -> PlainConv:
    return PlainConv()
