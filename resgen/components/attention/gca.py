"""Global context, fused by addition, as timm's ``GlobalContext(fuse_add=True,
fuse_scale=False)`` (``attn_layer='gca'``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from resgen.components import naming
from resgen.components.attention import gc
from resgen.components.attention.base import Attention, AttentionKind, Finding


class GlobalContextAddSpec(gc.GlobalContextSpec):
    """Global context fused by addition (Cao et al. 2019, GCNet's own fusion): the context
    vector of a 1x1 conv with softmax over the map goes through a 1x1 MLP with layer norm and
    is added to every pixel (timm: `attn_layer='gca'`, GlobalContext(fuse_add=True,
    fuse_scale=False), keys `se.conv_attn`, `se.mlp_add.fc1`, `.norm`, `.fc2`). It sits on the
    branch after its last norm, before the sum."""

    type: Literal["gca"] = Field(  # type: ignore[assignment]
        description="Picks global context (addition)."
    )


Spec = GlobalContextAddSpec


def _gca(part: str) -> str:
    return naming.attention_suffix("gca", part)


TORCH = dataclasses.replace(gc.TORCH, mlp="mlp_add")
# timm's ``se.conv_attn`` is gc's too, and transfer pairs by PyTorch path: it keeps gc's name.
KERAS = gc.KerasNames(
    weights=_gca("weights"),
    softmax=_gca("softmax"),
    pixels=_gca("pixels"),
    context=_gca("context"),
    reshape=_gca("reshape"),
    fc1=_gca("fc1"),
    norm=_gca("norm"),
    relu=_gca("relu"),
    fc2=_gca("fc2"),
    excite=_gca("add"),  # the sum with the map
)

ORDER = 90  # where the registry lists it

KIND = AttentionKind(
    type="gca",
    arguments=("gca_channels",),
    sentence="global context (GCNet) added to the branch",
    torch=TORCH,
    keras=KERAS,
    defines=("global_context_add",),
)


def check(spec: GlobalContextAddSpec) -> list[Finding]:
    return []


@dataclass(frozen=True)
class GlobalContextAdd(gc.GlobalContext):
    """Global context added on a block's branch: gc's layers and counts."""

    KIND = KIND


def plan(
    spec: GlobalContextAddSpec, names: naming.BlockNames, channels: int, size: int
) -> Attention:
    layer = gc.layer_names(names, TORCH, KERAS)
    hidden = gc.hidden_width(channels, spec.ratio)
    return gc.planned(GlobalContextAdd, layer, names, channels, hidden, size)


def weights(names: naming.BlockNames) -> Iterator[tuple[str, str, str]]:
    """Its weighted layers for :mod:`resgen.weights.transfer`: (layer kind, PyTorch path, Keras
    name)."""
    layer = gc.layer_names(names, TORCH, KERAS)
    for key in ("attn", "fc1", "norm", "fc2"):
        yield ("norm" if key == "norm" else "conv", *layer[key])
