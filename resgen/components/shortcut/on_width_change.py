"""The module where the channels change; a stride-only change subsamples the identity
(keras.applications' ResNetV2, ``stride_shortcut: subsample``)."""

from __future__ import annotations

from dataclasses import dataclass

from resgen.components.shortcut.base import BlockShortcut, Module, When, same_shape

ORDER = 40


@dataclass(frozen=True)
class OnWidthChange(When):
    def selects(self, policy: str, stride_shortcut: str) -> bool:
        return policy in ("projection", "avg_projection") and stride_shortcut == "subsample"

    def on(self, module: Module, in_channels: int, out_channels: int, stride: int) -> BlockShortcut:
        if same_shape(in_channels, out_channels, stride):
            return "identity"
        return "subsample" if in_channels == out_channels else module


KIND = OnWidthChange("on_width_change", clause=" (a stride-only change subsamples instead)")
