"""Batch norm, torchvision's and timm's default (``nn.BatchNorm2d``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from resgen.backends import Backend
from resgen.components.norm.base import Constant, Finding, NormKind, NormSettings, given

ORDER = 10
KIND = NormKind(
    type="batch",
    choice="batch: batch norm.",
    name="batch norm",
    helper="batch_norm",
    torch_class="nn.BatchNorm2d",
    torch_layer="BatchNorm2d",
    keras_layer="BatchNormalization",
    variables=(
        ("weight", "gamma"),
        ("bias", "beta"),
        ("running_mean", "moving_mean"),
        ("running_var", "moving_variance"),
    ),
)


@dataclass(frozen=True)
class BatchNorm(NormSettings):
    """Epsilon and momentum (PyTorch's convention: the weight of the new batch)."""

    KIND = KIND

    eps: float
    momentum: float

    @property
    def keras_momentum(self) -> float:
        """Keras' momentum, the weight of the running average: 1 - PyTorch's."""
        return float(f"{1 - self.momentum:.12g}")

    def constants(self, backend: Backend) -> tuple[Constant, ...]:
        if backend == "torch":
            momentum = (self.momentum, "PyTorch convention: weight of the new batch")
        else:
            momentum = (self.keras_momentum, f"Keras convention: 1 - PyTorch's {self.momentum!r}")
        return (("NORM_EPS", self.eps, ""), ("NORM_MOMENTUM", *momentum))


def check(spec: Any) -> list[Finding]:
    found: list[Finding] = []
    if "groups" in given(spec):
        found.append((("groups",), "only group norm has groups; remove it or set type: group"))
    if spec.group_size is not None:
        found.append(
            (("group_size",), "only group norm has group_size; remove it or set type: group")
        )
    return found


def check_plan(spec: Any, norms: Sequence[tuple[str, int]]) -> list[Finding]:
    return []


def settings(spec: Any) -> BatchNorm:
    return BatchNorm(eps=spec.eps, momentum=spec.momentum)
