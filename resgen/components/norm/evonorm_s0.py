"""EvoNorm-S0 (Liu et al. 2020, "Evolving Normalization-Activation Layers"), timm's
``EvoNorm2dS0`` with its defaults (``apply_act``, 32 groups, epsilon 1e-5): a norm and its
nonlinearity in one layer, ``x * sigmoid(v * x) / group_std(x)`` then a per-channel scale and
shift. timm's resnetv2_50d_evos puts it where its other ResNetV2s put a norm and ReLU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from resgen.backends import Backend
from resgen.components.norm.base import (
    Constant,
    Finding,
    NormKind,
    NormSettings,
    groups_divide,
    no_momentum,
)

ORDER = 30
KIND = NormKind(
    type="evonorm_s0",
    choice="evonorm_s0: EvoNorm-S0 (Liu et al. 2020), a norm with its own nonlinearity, "
    "x * sigmoid(v * x) / std over `groups` groups of contiguous channels, then a scale and "
    "shift; no activation follows it, so it needs pre-activation blocks (timm: `norm_layer` "
    "EvoNorm2dS0, for resnetv2_50d_evos).",
    name="EvoNorm-S0",
    helper="evo_norm_s0",
    torch_class="EvoNorm2dS0",
    torch_layer="EvoNorm2dS0",
    keras_layer="EvoNorm2DS0",
    variables=(("weight", "gamma"), ("bias", "beta"), ("v", "v")),
    matches=(("eps", "epsilon"), ("groups", "groups")),
    params_per_channel=3,  # weight, bias and v
    grouped=True,
    keras_layers=True,
    activates=True,
)


@dataclass(frozen=True)
class EvoNormS0(NormSettings):
    """Groups and epsilon (no running statistics, so no momentum)."""

    KIND = KIND

    groups: int
    eps: float

    def constants(self, backend: Backend) -> tuple[Constant, ...]:
        return (
            ("NORM_GROUPS", self.groups, "channels in contiguous groups"),
            ("NORM_EPS", self.eps, ""),
        )


def check(spec: Any) -> list[Finding]:
    return no_momentum(spec, KIND)


def check_plan(spec: Any, norms: Sequence[tuple[str, int]]) -> list[Finding]:
    """Every normalized width, (PyTorch path, channels), must be a multiple of the groups."""
    return groups_divide(spec, norms)


def settings(spec: Any) -> EvoNormS0:
    return EvoNormS0(groups=spec.groups, eps=spec.eps)
