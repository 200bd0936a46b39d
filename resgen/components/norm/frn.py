"""Filter response norm with a thresholded linear unit (Singh and Krishnan 2020), timm's
``FilterResponseNormTlu2d`` with its defaults (``apply_act``, ``rms``): a norm and its
nonlinearity in one layer, ``max(x / sqrt(mean(x^2) + eps) * weight + bias, tau)``, the mean
over each channel's map. timm's resnetv2_50d_frn puts it where its other ResNetV2s put a norm
and ReLU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from resgen.backends import Backend
from resgen.components.norm.base import Constant, Finding, NormKind, NormSettings, no_momentum

ORDER = 40
KIND = NormKind(
    type="frn",
    choice="frn: filter response norm (Singh and Krishnan 2020), a norm with its own "
    "nonlinearity: each channel divided by the root of its mean square plus eps, scaled and "
    "shifted, then max(x, tau) (TLU); no activation follows it, so it needs pre-activation "
    "blocks (timm: `norm_layer` FilterResponseNormTlu2d, for resnetv2_50d_frn).",
    name="filter response norm (FRN) with TLU",
    helper="filter_response_norm",
    torch_class="FilterResponseNormTlu2d",
    torch_layer="FilterResponseNormTlu2d",
    keras_layer="FilterResponseNormTlu2D",
    variables=(("weight", "gamma"), ("bias", "beta"), ("tau", "tau")),
    params_per_channel=3,  # weight, bias and tau
    keras_layers=True,
    activates=True,
)


@dataclass(frozen=True)
class FilterResponseNorm(NormSettings):
    """Epsilon (no groups, no running statistics)."""

    KIND = KIND

    eps: float

    def constants(self, backend: Backend) -> tuple[Constant, ...]:
        return (("NORM_EPS", self.eps, "added to each channel's mean square"),)


def check(spec: Any) -> list[Finding]:
    return no_momentum(spec, KIND)


def check_plan(spec: Any, norms: Sequence[tuple[str, int]]) -> list[Finding]:
    return []


def settings(spec: Any) -> FilterResponseNorm:
    return FilterResponseNorm(eps=spec.eps)
