"""Fit a PyTorch checkpoint to a spec before the strict load: other dialects, ``--adapt``.

``resgen convert`` reads a state_dict, then :func:`fit` renames another library's keys to ours
(:mod:`resgen.weights.dialects`) and, with ``--adapt``, makes two mismatches fit the way timm's
``load_pretrained`` does:

- the stem's first conv trained on 3 channels, the spec taking N: timm's ``adapt_input_conv``
  (N = 1: the kernel summed over its input channels; otherwise repeated and scaled by 3 / N);
- a classifier of another class count (or none, as in a backbone-only checkpoint): left at
  the spec's initialisation.

Each adapted or reset tensor is named on one line. Every other mismatch is left for the strict
load to refuse. Without ``--adapt`` nothing but the names changes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from resgen.plan.network import NetworkPlan
from resgen.weights.dialects import translate

if TYPE_CHECKING:
    import torch


def adapt_input_conv(in_chans: int, weight: torch.Tensor) -> torch.Tensor:
    """timm's ``adapt_input_conv`` for a kernel trained on 3 input channels."""
    dtype = weight.dtype
    weight = weight.float()
    if in_chans == 1:
        weight = weight.sum(dim=1, keepdim=True)
    elif in_chans != 3:
        repeat = math.ceil(in_chans / 3)
        weight = weight.repeat(1, repeat, 1, 1)[:, :in_chans, :, :] * (3 / float(in_chans))
    return weight.to(dtype)


def _shape(tensor: torch.Tensor) -> str:
    return " x ".join(map(str, tensor.shape))


def fit(
    state: dict[str, torch.Tensor],
    own: dict[str, torch.Tensor],
    plan: NetworkPlan,
    *,
    adapt: bool,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``state`` renamed to ours and, with ``adapt``, fitted to ``own`` (the model's
    state_dict); the lines saying what changed."""
    state, dialect = translate(state)
    notes = [f"read {dialect.name} names"] if dialect else []
    if not adapt:
        return state, notes
    stem = f"{plan.stem.convs[0].torch_name}.weight"
    given, wanted = state.get(stem), own.get(stem)
    if given is not None and wanted is not None and given.shape != wanted.shape:
        fits = given.ndim == 4 and given.shape[1] == 3 and given.shape[0] == wanted.shape[0]
        if fits and given.shape[2:] == wanted.shape[2:]:
            channels = wanted.shape[1]
            state[stem] = adapt_input_conv(channels, given)
            rule = "summed" if channels == 1 else f"repeated, scaled by 3/{channels}"
            notes.append(f"adapted {stem}: {_shape(given)} -> {_shape(wanted)} ({rule})")
    head = plan.head.torch_name
    for key in (f"{head}.weight", f"{head}.bias"):
        if key not in own:
            continue
        if key not in state:
            state[key] = own[key]
            notes.append(f"reset {key}: not in the checkpoint, left at the spec's initialisation")
        elif state[key].shape != own[key].shape:
            shape = _shape(state[key])
            state[key] = own[key]
            notes.append(
                f"reset {key}: {shape} in the checkpoint, {_shape(own[key])} here, left at the "
                "spec's initialisation"
            )
    return state, notes
