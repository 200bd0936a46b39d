"""What an activation kind declares: how each backend's file spells it, and its words."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActivationKind:
    """One activation of the stem and the blocks (the spec's ``activation``)."""

    type: str  # the spec's word
    choice: str  # the word as the field's description lists it
    name: str  # in the docstrings' prose
    torch: str  # the PyTorch module, constructed, as timm builds it
    keras: str  # the Keras ``Activation`` argument, as the file spells it
    non_negative: bool = False  # outputs are never negative (a zero pad never wins a max)
    keras_helper: str | None = None  # a function the Keras file defines (keras/helpers/<name>)
