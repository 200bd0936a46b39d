"""The generated model as a backbone: its feature maps, as the templates print them.

timm's ``feature_info`` lists, for every map a detector or segmenter can take, its channels,
its reduction (the stride from the input) and the module whose output it is: index 0 is the
stem's map before its pool, then one per stage. Both backends print the same list (PyTorch
names the module, Keras the layer); ``features_only``, ``out_indices`` and ``frozen_stages``
read it in the generated files.
"""

from __future__ import annotations

from dataclasses import dataclass

from resgen.backends import Backend
from resgen.plan.network import NetworkPlan


@dataclass(frozen=True)
class FeatureMap:
    """One map of the pyramid: timm's ``{"num_chs", "reduction", "module"}``."""

    index: int
    channels: int
    reduction: int
    module: str  # PyTorch: the module whose output it is; Keras: the layer


@dataclass(frozen=True)
class Backbone:
    """What a file prints for the backbone interface."""

    maps: tuple[FeatureMap, ...]

    @property
    def out_indices(self) -> tuple[int, ...]:
        """timm's default for ``features_only``: every map."""
        return tuple(feature.index for feature in self.maps)

    @property
    def first_stage(self) -> str:
        """The first stage's module: the stem is every module registered before it."""
        return self.maps[1].module


def stem_module(plan: NetworkPlan, backend: Backend) -> str:
    """The module (layer) whose output is the stem's map: its activation, or its last conv in a
    pre-activation net (no norm and activation after the stem)."""
    stem = plan.stem
    if backend == "keras":
        return stem.keras_feature
    return stem.torch_module


def backbone(plan: NetworkPlan, backend: Backend) -> Backbone:
    """The feature maps of ``plan`` as ``backend``'s file names them."""
    strides = plan.feature_strides
    maps = [FeatureMap(0, plan.stem.out_channels, strides[0], stem_module(plan, backend))]
    for index, (stage, stride) in enumerate(zip(plan.stages, strides[1:], strict=True), 1):
        name = stage.torch_name if backend == "torch" else stage.keras_out
        maps.append(FeatureMap(index, stage.out_channels, stride, name))
    return Backbone(tuple(maps))
