"""Weight standardisation (Qiao et al. 2019, "Micro-Batch Training with Batch-Channel
Normalization and Weight Standardization"), as timm's ``StdConv2d``: each conv standardises its
weight per output channel on every call, BiT's convs (Kolesnikov et al. 2020) beside group norm."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from resgen.backends import Backend
from resgen.components.base import SpecModel
from resgen.components.conv.base import Constant, ConvKind, ConvSettings, Finding

# As a norm's epsilon: for a kernel whose weights are all equal, gradients scale with
# eps^-1.5, which overflows float32 below about 2e-26; 1e-12 keeps a wide margin.
MIN_EPS = 1e-12

ORDER = 20
KIND = ConvKind(
    type="weight_standardized",
    choice="`{type: weight_standardized, eps: ...}`, each conv's weight standardised per output "
    "channel on every call (Qiao et al. 2019; timm's StdConv2d, BiT's `conv_layer`)",
    torch_class="StdConv2d",
    torch_layer="StdConv2d",
    keras_class="StdConv2D",
    keras_layer="StdConv2D",
    matches=(("eps", "epsilon"),),
    keras_layers=True,
)


class WeightStandardizedConvSpec(SpecModel):
    """Weight standardisation (Qiao et al. 2019): before each call a conv's weight has its mean
    subtracted and is divided by its standard deviation (biased, with `eps` added to the
    variance), per output channel over its input channels and window (timm: StdConv2d, which
    BiT's ResNetV2 models use with eps 1e-8). The classifier stays a plain layer, as in timm."""

    type: Literal["weight_standardized"] = Field(description="Picks weight standardisation.")
    eps: float = Field(
        1e-6,
        ge=MIN_EPS,
        lt=1,
        description="Added to each output channel's weight variance (timm's StdConv2d: 1e-6; BiT "
        "uses 1e-8). At least 1e-12, as a norm's epsilon: for a channel whose weights are all "
        "equal, gradients scale with eps^-1.5, which overflows float32 below about 2e-26.",
    )


Spec = WeightStandardizedConvSpec


@dataclass(frozen=True)
class WeightStandardizedConv(ConvSettings):
    """The epsilon every conv adds to its weight's variance."""

    KIND = KIND

    eps: float

    def constants(self, backend: Backend) -> tuple[Constant, ...]:
        return (("CONV_EPS", self.eps, "added to each conv weight's variance (standardisation)"),)

    @property
    def sentence(self) -> str:
        return (
            "Every conv but the classifier standardises its weight per output channel on each "
            f"call (Qiao et al. 2019; eps {self.eps!r}). "
        )


def check(
    spec: WeightStandardizedConvSpec, used: Iterable[Any], takers: Sequence[str]
) -> list[Finding]:
    """Every block kind the network uses (``used``) must build its convs with the conv kind's
    layer; ``takers`` names the block kinds that do."""
    for kind in used:
        if not kind.takes_conv_kind:
            return [
                (
                    ("conv", "type"),
                    f"{kind.type} blocks build their convs as timm's module does, with "
                    "nn.Conv2d, so weight standardisation cannot reach them; use conv type "
                    f"plain, or {' or '.join(takers)} blocks",
                )
            ]
    return []


def settings(spec: WeightStandardizedConvSpec) -> WeightStandardizedConv:
    return WeightStandardizedConv(eps=spec.eps)
