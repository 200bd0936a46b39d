"""No shortcut: the plain network (He et al. 2015's baseline)."""

from __future__ import annotations

from dataclasses import dataclass

from resgen.components.shortcut.base import BlockShortcut, Module, When

ORDER = 10


@dataclass(frozen=True)
class NoShortcut(When):
    def selects(self, policy: str, stride_shortcut: str) -> bool:
        return policy == "none"

    def on(self, module: Module, in_channels: int, out_channels: int, stride: int) -> BlockShortcut:
        return "none"


KIND = NoShortcut("none", residual=False)
