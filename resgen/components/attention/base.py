"""What an attention kind declares: how a block class takes it, and its planned record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from resgen.components.layers import Conv

# A rule's finding, relative to the attention's own fields: (("kernel_size",), "message").
Finding = tuple[tuple[str, ...], str]


@dataclass(frozen=True)
class AttentionKind:
    """One attention kind as block classes, pages and templates see it."""

    type: str  # the spec's ``type``; also the template's name (``<backend>/attention/<type>``)
    arguments: tuple[str, ...]  # the block's keyword arguments (ints), one STAGES column each
    sentence: str  # its clause in the block's description
    torch: Any  # the attribute names inside its PyTorch module (the kind's own dataclass)
    keras: Any  # the suffixes of its Keras layers (the kind's own dataclass)
    defines: tuple[str, ...]  # the module-level names its helper defines in a generated file
    keras_ops: bool = False  # its Keras helper computes with ``keras.ops`` (the file imports it)
    # Its Keras helper defines a registered custom layer (typed ``Any``, computing with
    # ``keras.ops``), where no built-in layer does what timm's module does.
    keras_layers: bool = False


@dataclass(frozen=True)
class Attention:
    """A planned attention module on one block (``layer1.0.se``, Keras ``conv2_block1_*``)."""

    KIND: ClassVar[AttentionKind]

    torch_name: str  # the module: ``layer1.0.se`` (timm's name for every kind)
    keras_name: str  # the prefix of its Keras layers: ``conv2_block1``
    channels: int

    @property
    def kind(self) -> AttentionKind:
        return self.KIND

    @property
    def arguments(self) -> tuple[tuple[str, int], ...]:
        """The block's keyword arguments for this module: (name, value), as ``KIND.arguments``."""
        raise NotImplementedError

    @property
    def convs(self) -> tuple[Conv, ...]:
        """Its 2-D convolutions with weights (those the initialisation and counts see)."""
        return ()

    @property
    def params(self) -> int:
        raise NotImplementedError

    @property
    def macs(self) -> int:
        raise NotImplementedError
