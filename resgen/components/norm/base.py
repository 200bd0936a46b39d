"""What a norm kind declares: its layers in both files, its counts, its transfer pairing, and
the network-wide settings its helper reads."""

from __future__ import annotations

from collections.abc import Sequence
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
    grouped: bool = False  # it reads ``norm.groups`` (channels in contiguous groups)
    # Its Keras helper defines a registered custom layer (typed ``Any``, computing with
    # ``keras.ops``), where no built-in layer is its twin (EvoNorm, FRN).
    keras_layers: bool = False
    # Each norm's groups come from its width and a group size (group norm's ``group_size``,
    # timm's ``GroupNormAct(group_size=...)``): the helpers divide their channels by
    # ``NORM_GROUP_SIZE``. The settings record gives this variant of its kind (``kind``).
    sized_groups: bool = False
    # Its layer applies its own nonlinearity (timm's norm-act layers with ``apply_act``):
    # it stands where a norm and the network's activation stand, so no activation follows it
    # and every norm must be one an activation follows (pre-activation networks).
    activates: bool = False

    @property
    def defines(self) -> tuple[str, ...]:
        """The module-level names its helper defines in a generated file."""
        return (self.helper,)

    def params(self, channels: int) -> int:
        return self.params_per_channel * channels

    def with_act(self, act: str) -> str:
        """What stands before a pre-activation conv, in words: "norm and ReLU", or the norm
        alone where it carries its own nonlinearity."""
        if self.activates:
            return f"{self.name} (norm and nonlinearity in one)"
        return f"norm and {act}"


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


def no_momentum(spec: Any, kind: NormKind) -> list[Finding]:
    """A kind without running statistics refuses ``momentum``."""
    if "momentum" in given(spec):
        message = f"{kind.name} keeps no running statistics, so it has no momentum; remove it"
        return [(("momentum",), message)]
    return []


def groups_divide(spec: Any, norms: Sequence[tuple[str, int]]) -> list[Finding]:
    """Every normalized width, (PyTorch path, channels), must be a multiple of the groups."""
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
