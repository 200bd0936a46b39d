"""The projection on every block (option C, ``shortcut: always_projection``)."""

from __future__ import annotations

from dataclasses import dataclass

from resgen.components.shortcut.base import BlockShortcut, Module, When

ORDER = 20


@dataclass(frozen=True)
class Always(When):
    def selects(self, policy: str, stride_shortcut: str) -> bool:
        return policy == "always_projection"

    def on(self, module: Module, in_channels: int, out_channels: int, stride: int) -> BlockShortcut:
        return "projection"


KIND = Always("always")
