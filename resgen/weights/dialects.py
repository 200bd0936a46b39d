"""Checkpoint dialects: other libraries' names for a ResNet's tensors, mapped to ours, as data.

The generated PyTorch models use torchvision's and timm's names. Two other layouts are common:

- transformers' ``ResNetModel`` / ``ResNetForImageClassification`` (``resnet.embedder...``,
  ``resnet.encoder.stages.{i}.layers.{j}.layer.{k}...``, ``classifier.1``), whose blocks are
  torchvision's (v1.5: stride on the 3x3; ``downsample_in_bottleneck=False``);
- OpenMMLab's toolboxes (mmpretrain, mmdetection, mmsegmentation): torchvision's names under
  ``backbone.``, the classifier as ``head.fc``.

A dialect is recognised from the keys (its ``marker`` matches one of them) and each key is
renamed by the first rule whose pattern matches it; a key no rule matches keeps its name, so the
strict load that follows names it. A replacement's ``{group}`` is the pattern's named group,
``{group+1}`` that number plus one (transformers counts stages and convs from 0, torchvision from
1). Nothing here imports a framework: the values pass through untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

Value = TypeVar("Value")


@dataclass(frozen=True)
class Dialect:
    """One library's naming: how to recognise it and how each of its keys maps to ours."""

    name: str
    marker: str  # a pattern some key of the dialect matches (and no torchvision key does)
    rules: tuple[tuple[str, str], ...]  # (pattern, replacement), the first match wins


_HF = r"^(?:resnet\.)?"  # ResNetForImageClassification nests ResNetModel under ``resnet.``
_HF_BLOCK = _HF + r"encoder\.stages\.(?P<stage>\d+)\.layers\.(?P<block>\d+)\."

_TENSOR = r"\.(?P<p>\w+)$"  # weight, bias, running_mean, ...
_OURS = "layer{stage+1}.{block}."  # our block: torchvision's layer<i>.<j>

TRANSFORMERS = Dialect(
    name="transformers ResNetModel / ResNetForImageClassification",
    marker=_HF + r"embedder\.embedder\.convolution\.weight$",
    rules=(
        (_HF + r"embedder\.embedder\.convolution" + _TENSOR, "conv1.{p}"),
        (_HF + r"embedder\.embedder\.normalization" + _TENSOR, "bn1.{p}"),
        (_HF_BLOCK + r"shortcut\.convolution" + _TENSOR, _OURS + "downsample.0.{p}"),
        (_HF_BLOCK + r"shortcut\.normalization" + _TENSOR, _OURS + "downsample.1.{p}"),
        (_HF_BLOCK + r"layer\.(?P<conv>\d+)\.convolution" + _TENSOR, _OURS + "conv{conv+1}.{p}"),
        (_HF_BLOCK + r"layer\.(?P<conv>\d+)\.normalization" + _TENSOR, _OURS + "bn{conv+1}.{p}"),
        (r"^classifier\.1" + _TENSOR, "fc.{p}"),
    ),
)

OPENMMLAB = Dialect(
    name="OpenMMLab (mmpretrain, mmdetection, mmsegmentation)",
    marker=r"^backbone\.conv1\.weight$",
    rules=(
        (r"^backbone\.(?P<rest>.+)$", "{rest}"),
        (r"^head\.fc\.(?P<p>\w+)$", "fc.{p}"),
    ),
)

DIALECTS = (TRANSFORMERS, OPENMMLAB)

_FIELD = re.compile(r"\{(\w+)(\+1)?\}")


def detect(keys: list[str]) -> Dialect | None:
    """The dialect whose marker one of ``keys`` matches; None for our own names."""
    for dialect in DIALECTS:
        marker = re.compile(dialect.marker)
        if any(marker.match(key) for key in keys):
            return dialect
    return None


def rename(key: str, dialect: Dialect) -> str:
    """``key`` in our names (unchanged when no rule of ``dialect`` matches it)."""
    for pattern, replacement in dialect.rules:
        found = re.match(pattern, key)
        if found:
            groups = found.groupdict()

            def field(match: re.Match[str], groups: dict[str, str] = groups) -> str:
                value = groups[match[1]]
                return str(int(value) + 1) if match[2] else value

            return _FIELD.sub(field, replacement)
    return key


def translate(state: Mapping[str, Value]) -> tuple[dict[str, Value], Dialect | None]:
    """``state`` under our names, and the dialect it was written in (None: already ours)."""
    dialect = detect(list(state))
    if dialect is None:
        return dict(state), None
    return {rename(key, dialect): value for key, value in state.items()}, dialect
