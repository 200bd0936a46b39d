"""What a stem kind declares: the layers before the first stage and their words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A rule's finding, relative to the stem's own fields: (("channels",), "message").
Finding = tuple[tuple[str, ...], str]


def one_conv_widths(spec: Any) -> tuple[int, ...]:
    """A kind's convs' widths unless it says otherwise: one conv, ``stem.channels`` wide."""
    return (spec.channels,)


def no_rules(spec: Any) -> list[Finding]:
    """A kind's own rules unless it has some: none."""
    return []


@dataclass(frozen=True)
class StemKind:
    """One stem kind (the spec's ``stem.type``) as the planner, describe and templates see it.

    Its convs are ``kernel`` x ``kernel``, the first at ``first_stride``, each followed by a norm
    and the activation; their names come from :func:`resgen.components.naming.stem_conv_names`. Its
    PyTorch template, ``templates/torch/stem/<type>.py.j2`` (macro ``init(stem, page)``),
    prints the conv attribute; Keras prints every stem's convs alike.
    """

    type: str  # the spec's ``stem.type``; also its template's name
    choice: str  # its sentence in ``stem.type``'s description
    phrase: str  # in the docstrings' prose ("a 7x7/2 conv stem")
    kernel: int
    first_stride: int
    convs: int  # how many convs
    pool: bool = True  # a pool (or what replaces it) follows its convs
    takes_widths: bool = False  # ``stem.widths`` gives each conv's width
