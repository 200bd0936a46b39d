"""Group norm (Wu and He 2018), timm's ``norm_layer='groupnorm'`` (``nn.GroupNorm``): a fixed
number of groups, or groups of a fixed size (timm's ``GroupNormAct(group_size=16)``,
regnety_040_sgn), each norm of C channels then having C / group_size groups."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from resgen.backends import Backend
from resgen.components.norm.base import Constant, Finding, NormKind, NormSettings, given

ORDER = 20
KIND = NormKind(
    type="group",
    choice="group: group norm (Wu and He 2018) with `groups` groups of contiguous channels (or "
    "groups of `group_size` channels), no running statistics (timm: `norm_layer`, 'groupnorm' "
    "for resnet50_gn).",
    name="group norm",
    helper="group_norm",
    torch_class="nn.GroupNorm",
    torch_layer="GroupNorm",
    keras_layer="GroupNormalization",
    variables=(("weight", "gamma"), ("bias", "beta")),
    matches=(("eps", "epsilon"), ("num_groups", "groups")),
)

# Groups of ``group_size`` channels: the helpers derive each norm's groups from its width.
SIZED = dataclasses.replace(KIND, sized_groups=True)


@dataclass(frozen=True)
class GroupNorm(NormSettings):
    """Groups (or, where ``group_size`` is set, the channels in each group) and epsilon (no
    running statistics, so no momentum)."""

    KIND = KIND

    groups: int
    eps: float
    group_size: int | None = None

    @property
    def kind(self) -> NormKind:
        return KIND if self.group_size is None else SIZED

    def constants(self, backend: Backend) -> tuple[Constant, ...]:
        if self.group_size is not None:
            return (
                ("NORM_GROUP_SIZE", self.group_size, "channels in each contiguous group"),
                ("NORM_EPS", self.eps, ""),
            )
        return (
            ("NORM_GROUPS", self.groups, "channels in contiguous groups"),
            ("NORM_EPS", self.eps, ""),
        )


def check(spec: Any) -> list[Finding]:
    found: list[Finding] = []
    if "momentum" in given(spec):
        found.append(
            (
                ("momentum",),
                "group norm keeps no running statistics, so it has no momentum; remove it",
            )
        )
    if spec.group_size is not None and "groups" in given(spec):
        found.append(
            (
                ("group_size",),
                "give groups (a fixed number of groups) or group_size (channels in each "
                "group), not both",
            )
        )
    return found


def check_plan(spec: Any, norms: Sequence[tuple[str, int]]) -> list[Finding]:
    """Every normalized width, (PyTorch path, channels), must be a multiple of the groups (or
    of the group size, timm's ``assert num_channels % group_size == 0``)."""
    if spec.group_size is not None:
        return _check_group_size(spec.group_size, norms)
    groups = spec.groups
    for torch_name, channels in norms:
        if channels % groups:
            return [
                (
                    ("groups",),
                    f"{groups} groups do not divide {torch_name}'s {channels} channels; every "
                    "normalized width must be a multiple of groups",
                )
            ]
    return []


def _check_group_size(size: int, norms: Sequence[tuple[str, int]]) -> list[Finding]:
    for torch_name, channels in norms:
        if channels % size:
            return [
                (
                    ("group_size",),
                    f"{torch_name}'s {channels} channels are not a multiple of group_size "
                    f"{size}; every normalized width must be",
                )
            ]
    return []


def settings(spec: Any) -> GroupNorm:
    return GroupNorm(groups=spec.groups, eps=spec.eps, group_size=spec.group_size)
