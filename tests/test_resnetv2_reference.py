"""timm's resnetv2.py against the generated files, beyond tests/test_families_reference.py.

Marked ``reference`` (timm needs torch's full build). ``features_only`` maps and
``feature_info`` (timm's FeatureListNet flattens the stem's and the stages' Sequentials into
``stem_conv``, ``stages_0``: the same tensors under those names), dilated networks
(``output_stride`` 16 and 8: timm's ResNetStage puts a stage's first block at dilation 1 where
the stage's is 1 or 2, else 2, and DownsampleAvg's pool becomes AvgPool2dSame), and BiT's
zero-padded stem pool (timm's ``stem_type='fixed'`` and ``'deep_fixed'``) as a spec's
``stem.pool_padding: zeros``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import build_generated, generated_factory, render_generated
from test_timm_reference import TOLERANCE, timm_model

from resgen.check.validate import load_spec

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference

SPECS = Path(__file__).resolve().parent.parent / "specs"
OUT_INDICES = ((0, 1, 2, 3, 4), (0, 2), (4,))


def _input(size: int = 64) -> torch.Tensor:
    torch.manual_seed(3)
    return torch.randn(2, 3, size, size)


def _unflattened(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """FeatureListNet's ``stem_conv1.weight`` / ``stages_0.blocks...`` as the model's paths."""
    return {re.sub(r"^(stem|stages)_", r"\1.", key): value for key, value in state.items()}


@pytest.mark.parametrize("output_stride", (32, 8))
@pytest.mark.parametrize("out_indices", OUT_INDICES, ids=str)
@pytest.mark.parametrize("name", ["resnetv2_18", "resnetv2_50d"])
def test_features_only_equals_timm(
    name: str, out_indices: tuple[int, ...], output_stride: int
) -> None:
    kwargs = {"features_only": True, "out_indices": out_indices, "output_stride": output_stride}
    theirs = timm_model(name, **kwargs)
    ours = build_generated("torch", name, **kwargs).eval()
    ours.load_state_dict(_unflattened(theirs.state_dict()), strict=True)
    assert ours.feature_info == theirs.feature_info.get_dicts()
    x = _input()
    with torch.no_grad():
        maps, their_maps = ours(x), theirs(x)
    assert [m.shape for m in maps] == [m.shape for m in their_maps]
    for mine, reference in zip(maps, their_maps, strict=True):
        torch.testing.assert_close(mine, reference, **TOLERANCE)


@pytest.mark.parametrize("output_stride", (8, 16))
@pytest.mark.parametrize("name", ["resnetv2_18d", "resnetv2_50", "resnetv2_50d"])
def test_dilated_model_equals_timm(name: str, output_stride: int) -> None:
    theirs = timm_model(name, output_stride=output_stride)
    ours = build_generated("torch", name, output_stride=output_stride).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = _input()
    with torch.no_grad():
        mine, reference = ours.forward_features(x), theirs.forward_features(x)
        assert mine.shape[-1] == reference.shape[-1] == 64 // output_stride
        torch.testing.assert_close(mine, reference, **TOLERANCE)
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)


@pytest.mark.parametrize(
    ("name", "stem_type"), [("resnetv2_50", "fixed"), ("resnetv2_50d", "deep_fixed")]
)
def test_zero_padded_stem_pool_is_timms_fixed_stem(
    name: str, stem_type: str, tmp_path: Path
) -> None:
    """BiT's stem (``ConstantPad2d(1, 0.)`` then ``MaxPool2d(3, 2)``, timm's ``fixed``) is the
    spec's ``stem.pool_padding: zeros``; on the default padding the outputs differ."""
    spec = load_spec(SPECS / f"{name}.yaml")
    stem = spec.stem.model_copy(update={"pool_padding": "zeros"})
    fixed = spec.model_copy(update={"name": f"{name}_fixed", "stem": stem})
    render_generated(fixed, tmp_path, ("torch",))
    theirs = timm_model(name, stem_type=stem_type)
    ours = generated_factory("torch", fixed.name, tmp_path)().eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    plain = build_generated("torch", name).eval()
    plain.load_state_dict(theirs.state_dict(), strict=True)
    x = _input(80)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), **TOLERANCE)
        assert (plain(x) - theirs(x)).abs().max() > 1e-3
