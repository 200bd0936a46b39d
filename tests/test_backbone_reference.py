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

# ... and regnetz_005: its final conv is no part of timm's features_only model.
NAMES = ("resnet18", "resnet50", "seresnext26d_32x4d", "resnetblur50", "resnetaa50d", "regnetz_005")
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
        if family not in ("torchvision", "timm", "sknet", "res2net", "resnest"):
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
    assert checked == 101


@pytest.mark.parametrize("channels", [1, 2, 4, 5])
def test_adapted_stem_is_timms(channels: int) -> None:
    from timm.models import adapt_input_conv as timms

    from resgen.weights.adapt import adapt_input_conv

    torch.manual_seed(channels)
    kernel = torch.randn(64, 3, 7, 7)
    torch.testing.assert_close(adapt_input_conv(channels, kernel), timms(channels, kernel.clone()))


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_transformers_checkpoint_gives_transformers_outputs(name: str) -> None:
    """A ResNetForImageClassification built from transformers' ResNetConfig (non-trivial norm
    statistics): its state_dict, read through resgen's dialect, loads strictly into the
    generated model, which then gives transformers' logits. The committed key listing the
    default suite uses (tests/data/transformers_state_dicts.json) is transformers' own."""
    import json

    transformers = pytest.importorskip("transformers", reason="transformers is test-only")
    from helpers import DATA, spec_path

    from resgen.check.validate import load_spec
    from resgen.plan.planner import build_plan
    from resgen.weights.adapt import fit

    sizes = {"resnet18": ([2, 2, 2, 2], [64, 128, 256, 512], "basic")}
    depths, hidden, kind = sizes.get(name, ([3, 4, 6, 3], [256, 512, 1024, 2048], "bottleneck"))
    config = transformers.ResNetConfig(
        depths=depths, hidden_sizes=hidden, layer_type=kind, num_labels=1000
    )
    torch.manual_seed(0)
    theirs = transformers.ResNetForImageClassification(config)
    with torch.no_grad():
        for module in theirs.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    theirs.eval()
    state = theirs.state_dict()
    listing = json.loads((DATA / "transformers_state_dicts.json").read_text())[name]
    assert listing == {key: list(value.shape) for key, value in state.items()}
    ours = build_generated("torch", name).eval()
    renamed, notes = fit(
        dict(state), ours.state_dict(), build_plan(load_spec(spec_path(name))), adapt=False
    )
    assert notes == ["read transformers ResNetModel / ResNetForImageClassification names"]
    ours.load_state_dict(renamed, strict=True)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(pixel_values=x).logits, **TOLERANCE)
