"""The norm kinds with their own nonlinearity against timm's layers (``.venv-ref``): the class a
generated PyTorch file defines for ``evonorm_s0`` (EvoNorm2dS0) and ``frn``
(FilterResponseNormTlu2d) loads timm's state_dict strictly (the same keys and shapes, in order)
and gives timm's outputs on random inputs and random parameters, in training and in eval mode
(neither keeps running statistics, so both modes compute the same; the check holds it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import generated_module, render_generated
from test_norm_kinds import spec_of

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference


def _timm_layer(kind: str, channels: int, groups: int, eps: float) -> Any:
    from timm.layers import EvoNorm2dS0, FilterResponseNormTlu2d

    if kind == "evonorm_s0":
        return EvoNorm2dS0(channels, groups=groups, eps=eps)
    return FilterResponseNormTlu2d(channels, eps=eps)


def _ours(kind: str, folder: Path, channels: int, groups: int, eps: float) -> Any:
    spec = spec_of(kind)
    render_generated(spec, folder, ("torch",))
    module = generated_module("torch", spec.name, folder)
    if kind == "evonorm_s0":
        return module.EvoNorm2dS0(channels, groups, eps)
    return module.FilterResponseNormTlu2d(channels, eps)


@pytest.mark.parametrize(
    ("kind", "groups", "eps"),
    [("evonorm_s0", 32, 1e-5), ("evonorm_s0", 8, 1e-3), ("frn", 1, 1e-5), ("frn", 1, 1e-6)],
)
def test_the_generated_layer_equals_timm_s(
    kind: str, groups: int, eps: float, tmp_path: Path
) -> None:
    theirs = _timm_layer(kind, 64, groups, eps)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    state = theirs.state_dict()
    ours = _ours(kind, tmp_path, 64, groups, eps)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in state.items()
    ]
    ours.load_state_dict(state, strict=True)
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        x = torch.randn(3, 64, 9, 7, generator=generator) * 2 + 0.5
        assert torch.allclose(ours(x), theirs(x), atol=1e-6, rtol=0), (kind, training)


def test_timm_s_resnetv2_defaults_are_the_spec_s() -> None:
    """The defaults resnetv2_50d_evos and resnetv2_50d_frn build their layers with (every one
    applies its nonlinearity: timm passes no ``apply_act=False`` in a pre-activation ResNetV2)
    are the spec's: 32 groups, epsilon 1e-5, and v or tau present."""
    from resgen.spec.models import NormSpec

    defaults = NormSpec()
    for name, kind in (("resnetv2_50d_evos", "EvoNorm2dS0"), ("resnetv2_50d_frn", "Filter")):
        model = timm.create_model(name, pretrained=False)
        layers = [m for m in model.modules() if type(m).__name__.startswith(kind)]
        assert len(layers) == 2 + 3 * 16 + 1  # two in the stem, three a block, the final
        for layer in layers:
            assert layer.apply_act and layer.eps == defaults.eps
            assert getattr(layer, "groups", defaults.groups) == defaults.groups


@pytest.mark.parametrize("output_stride", (32, 8))
@pytest.mark.parametrize("name", ["resnetv2_50d_evos", "resnetv2_50d_frn"])
def test_the_shipped_specs_feature_maps_equal_timm_s(name: str, output_stride: int) -> None:
    """``features_only`` at every index (the stem's map is ``stem[:5]``: without activation
    modules the container's children up to its pool are five, not seven) and ``output_stride``
    8, with random norm parameters (v and tau included), against timm's FeatureListNet."""
    import re

    from helpers import build_generated
    from reference_compare import randomize_norms

    kwargs = {"features_only": True, "out_indices": (0, 1, 2, 3, 4)}
    torch.manual_seed(0)
    theirs = timm.create_model(name, output_stride=output_stride, **kwargs)
    randomize_norms(theirs, 64, torch)
    state = {re.sub(r"^(stem|stages)_", r"\1.", k): v for k, v in theirs.state_dict().items()}
    ours = build_generated("torch", name, output_stride=output_stride, **kwargs).eval()
    ours.load_state_dict(state, strict=True)
    assert ours.feature_info == theirs.feature_info.get_dicts()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        maps, their_maps = ours(x), theirs(x)
    assert [m.shape for m in maps] == [m.shape for m in their_maps]
    for mine, reference in zip(maps, their_maps, strict=True):
        assert (mine - reference).abs().max().item() <= 1e-5
