"""Group norm (Wu and He 2018), timm's ``norm_layer='groupnorm'`` (``nn.GroupNorm``)."""

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

ORDER = 20
KIND = NormKind(
    type="group",
    choice="group: group norm (Wu and He 2018) with `groups` groups of contiguous channels, no "
    "running statistics (timm: `norm_layer`, 'groupnorm' for resnet50_gn).",
    name="group norm",
    helper="group_norm",
    torch_class="nn.GroupNorm",
    torch_layer="GroupNorm",
    keras_layer="GroupNormalization",
    variables=(("weight", "gamma"), ("bias", "beta")),
    matches=(("eps", "epsilon"), ("num_groups", "groups")),
    grouped=True,
)


@dataclass(frozen=True)
class GroupNorm(NormSettings):
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


def settings(spec: Any) -> GroupNorm:
    return GroupNorm(groups=spec.groups, eps=spec.eps)
