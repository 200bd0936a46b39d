"""The generated ``features_only`` models against timm's (runs where timm does).

``timm.create_model(name, features_only=True, out_indices=...)``'s state_dict (freshly
initialised, with non-trivial norm statistics) loads strictly into the committed generated
file's ``features_only`` model with the same ``out_indices``: the same stages are kept, and the
maps and ``feature_info`` are timm's. The one name that differs is the stem's activation, which
torchvision's layout calls ``relu`` and timm ``act1`` (it holds no weights).
"""

from __future__ import annotations

import pytest
from helpers import build_generated
from test_timm_reference import TOLERANCE, timm_model

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

pytestmark = pytest.mark.reference

NAMES = ("resnet18", "resnet50", "seresnext26d_32x4d", "resnetblur50", "resnetaa50d")
OUT_INDICES = ((0, 1, 2, 3, 4), (1, 2, 3), (0, 2), (4,))


@pytest.mark.parametrize("out_indices", OUT_INDICES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_features_only_equals_timm(name: str, out_indices: tuple[int, ...]) -> None:
    kwargs = {"features_only": True, "out_indices": out_indices}
    theirs = timm_model(name, **kwargs)
    ours = build_generated("torch", name, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    their_info = theirs.feature_info.get_dicts()
    stem = {"act1": "relu"}
    assert ours.feature_info == [
        dict(info, module=stem.get(info["module"], info["module"])) for info in their_info
    ]
    torch.manual_seed(3)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        maps, their_maps = ours(x), theirs(x)
    assert [m.shape for m in maps] == [m.shape for m in their_maps]
    for mine, reference in zip(maps, their_maps, strict=True):
        torch.testing.assert_close(mine, reference, **TOLERANCE)


def test_pretrained_cfg_is_what_torchvision_and_timm_publish() -> None:
    """torchvision's DEFAULT weights' transforms for its family, timm's default tag's
    pretrained_cfg for the zoo (scripts/pretrained_specs.py wrote the specs from them)."""
    from helpers import generated_module, shipped_specs, spec_family
    from timm.models import get_pretrained_cfg

    torchvision = pytest.importorskip("torchvision")
    checked = 0
    for name, path in sorted(shipped_specs().items()):
        family = spec_family(path)
        if family not in ("torchvision", "timm"):
            continue
        cfg = generated_module("torch", name).PRETRAINED_CFG
        if family == "torchvision":
            transforms = torchvision.models.get_model_weights(name).DEFAULT.transforms()
            crop, resize = transforms.crop_size[0], transforms.resize_size[0]
            expected = {
                "mean": tuple(transforms.mean),
                "std": tuple(transforms.std),
                "interpolation": transforms.interpolation.value,
                "crop_size": crop,
            }
            actual = {k: cfg[k] for k in ("mean", "std", "interpolation")}
            actual["crop_size"] = round(resize * cfg["crop_pct"])
        else:
            theirs = get_pretrained_cfg(name)
            expected = {
                "mean": theirs.mean,
                "std": theirs.std,
                "interpolation": theirs.interpolation,
                "crop_pct": theirs.crop_pct,
                "input_size": theirs.input_size,
            }
            actual = {key: cfg[key] for key in expected}
        assert actual == expected, name
        assert cfg["channel_order"] == "rgb"
        checked += 1
    assert checked == 79
