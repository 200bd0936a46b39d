"""What a conv kind declares: the layer every conv call site builds, in both files, and the
network-wide settings that layer reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from resgen.backends import Backend

# A rule's finding, relative to the spec's root: (("conv", "type"), "message").
Finding = tuple[tuple[str | int, ...], str]

# A module constant the layer reads: (NAME, value, comment).
Constant = tuple[str, int | float, str]


@dataclass(frozen=True)
class ConvKind:
    """One conv kind as pages, templates and transfer see it.

    Its templates, ``templates/<backend>/conv/<type>.py.j2``, define its layer (macro
    ``define``; nothing where the framework's own conv is it): PyTorch's ``torch_class`` takes
    ``nn.Conv2d``'s arguments and builds every conv of the stem, the blocks and the projection
    shortcuts; Keras' ``conv2d`` helper builds ``keras_class``. The classifier, attention
    modules and the blur filter stay the framework's own layers, as in timm.
    """

    type: str  # the spec's ``conv.type``; also the templates' name
    choice: str  # its sentence in the field's description
    torch_class: str  # the PyTorch class, as the file spells it
    torch_layer: str  # that class's name at run time (transfer pairs by it)
    keras_class: str  # the Keras layer class, as the file spells it
    keras_layer: str  # that class's name at run time
    # Attributes both sides must agree on: (PyTorch attribute, Keras attribute).
    matches: tuple[tuple[str, str], ...] = ()
    # Its Keras ``define`` prints a registered custom layer (typed ``Any``, computing with
    # ``keras.ops``).
    keras_layers: bool = False

    @property
    def defines(self) -> tuple[str, ...]:
        """The module-level names its templates define in a generated file."""
        return tuple(name for name in (self.torch_class, self.keras_class) if "." not in name)


@dataclass(frozen=True)
class ConvSettings:
    """The network-wide settings of its convs, as the file's constants hold them."""

    KIND: ClassVar[ConvKind]

    @property
    def kind(self) -> ConvKind:
        return self.KIND

    def constants(self, backend: Backend) -> tuple[Constant, ...]:
        """The module constants its layer reads, in the file's order."""
        return ()

    @property
    def sentence(self) -> str:
        """The convs in the docstrings' prose, a sentence with its trailing space (empty for
        the plain conv, which needs no word)."""
        return ""


def no_rules(spec: Any, used: Any, takers: Any) -> list[Finding]:
    """A kind every network can take."""
    return []
