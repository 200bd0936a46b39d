"""What a norm kind declares: its layers in both files, its counts, its transfer pairing, and
the network-wide settings its helper reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from resgen.backends import Backend

# A rule's finding, relative to the norm's own fields: (("groups",), "message").
Finding = tuple[tuple[str, ...], str]

# A module constant the helper reads: (NAME, value, comment).
Constant = tuple[str, int | float, str]


@dataclass(frozen=True)
class NormKind:
    """One norm kind as block classes, pages, templates and transfer see it.

    Its templates, ``templates/<backend>/norm/<type>.py.j2``, define ``helper`` (macro
    ``define``): PyTorch's ``helper(channels)`` returns the module, Keras' ``helper(x, *,
    name)`` applies the layer named ``<name>_bn``. Every norm of the network is built with it.
    """

    type: str  # the spec's ``norm.type``; also the templates' name
    choice: str  # its sentence in the field's description
    name: str  # in the docstrings' prose ("batch norm")
    helper: str  # the function its templates define, which every norm call site calls
    torch_class: str  # the PyTorch class, as the file spells it (the initialisation's isinstance)
    torch_layer: str  # that class's name at run time (transfer pairs by it)
    keras_layer: str  # the Keras layer class of its twin
    # PyTorch tensor -> Keras variable; a tensor the module lacks is skipped.
    variables: tuple[tuple[str, str], ...]
    # Attributes both sides must agree on: (PyTorch attribute, Keras attribute).
    matches: tuple[tuple[str, str], ...] = (("eps", "epsilon"),)
    params_per_channel: int = 2  # a weight and a bias per channel (affine)
    # Its Keras helper defines a registered custom layer (typed ``Any``, computing with
    # ``keras.ops``), where no built-in layer is its twin (EvoNorm, FRN).
    keras_layers: bool = False
    # Each norm's groups come from its width and a group size (group norm's ``group_size``,
    # timm's ``GroupNormAct(group_size=...)``): the helpers divide their channels by
    # ``NORM_GROUP_SIZE``. The settings record gives this variant of its kind (``kind``).
    sized_groups: bool = False

    @property
    def defines(self) -> tuple[str, ...]:
        """The module-level names its helper defines in a generated file."""
        return (self.helper,)

    def params(self, channels: int) -> int:
        return self.params_per_channel * channels


@dataclass(frozen=True)
class NormSettings:
    """The network-wide settings of its norms, as the file's constants hold them."""

    KIND: ClassVar[NormKind]

    @property
    def kind(self) -> NormKind:
        return self.KIND

    def constants(self, backend: Backend) -> tuple[Constant, ...]:
        """The module constants the helper reads, in the file's order."""
        raise NotImplementedError


def given(spec: Any) -> set[str]:
    """The fields a spec's ``norm`` sets explicitly."""
    return set(spec.model_fields_set)
