"""Identity, or the module where the channels or the stride change (options A and B,
ResNet-D)."""

from __future__ import annotations

from dataclasses import dataclass

from resgen.components.shortcut.base import BlockShortcut, Module, When, same_shape

ORDER = 30


@dataclass(frozen=True)
class OnShapeChange(When):
    def selects(self, policy: str, stride_shortcut: str) -> bool:
        modules = ("zero_pad", "projection", "avg_projection")
        return policy in modules and (policy == "zero_pad" or stride_shortcut != "subsample")

    def on(self, module: Module, in_channels: int, out_channels: int, stride: int) -> BlockShortcut:
        return "identity" if same_shape(in_channels, out_channels, stride) else module


KIND = OnShapeChange("on_shape_change")
