"""Identity where the shape stays, no shortcut at all where it changes: such a block is plain,
its branch alone (timm's regnet.py with ``downsample=None``, RegNet-Z; ``shortcut: identity``).
"""

from __future__ import annotations

from dataclasses import dataclass

from resgen.components.shortcut.base import BlockShortcut, Module, When, same_shape

ORDER = 50


@dataclass(frozen=True)
class IdentityOnly(When):
    def selects(self, policy: str, stride_shortcut: str) -> bool:
        return policy == "identity"

    def on(self, module: Module, in_channels: int, out_channels: int, stride: int) -> BlockShortcut:
        return "identity" if same_shape(in_channels, out_channels, stride) else "none"


KIND = IdentityOnly("identity_only", conditional=True)
