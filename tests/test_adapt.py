"""``resgen convert --adapt`` and other libraries' checkpoint names (resgen/weights/adapt.py,
resgen/weights/dialects.py).

The stem's kernel is held to timm's ``adapt_input_conv`` rule computed by hand here (summed for
1 channel; repeated and scaled by 3/N for N) and, where timm imports, to timm's own function
(test_backbone_reference.py). Dialects are held to keys written the way transformers and
OpenMMLab write them; the reference test builds a transformers model from its ResNetConfig and
converts its checkpoint to both twins.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from checkpoints import trained_like
from helpers import DATA, no_traceback, spec_path

torch = pytest.importorskip("torch")

import json  # noqa: E402

from resgen.weights.dialects import OPENMMLAB, TRANSFORMERS, detect, rename, translate  # noqa: E402

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def resnet18_state() -> dict[str, torch.Tensor]:
    listing = json.loads((DATA / "torchvision_state_dicts.json").read_text())
    return trained_like(listing["resnet18"]["state_dict"])


def gray_spec(tmp_path: Path, channels: int, classes: int) -> Path:
    path = tmp_path / f"gray{channels}.yaml"
    base = spec_path("resnet18").resolve()
    path.write_text(
        f"name: gray{channels}\nextends: {base}\nnum_classes: {classes}\n"
        f"input: {{channels: {channels}, size: 64}}\npretrained: null\n"
    )
    return path


@pytest.mark.parametrize("channels", [1, 4])
def test_adapt_fits_the_stem_and_resets_the_classifier(
    tmp_path: Path, cli: Callable, channels: int
) -> None:
    state = resnet18_state()
    source, target = tmp_path / "in.pt", tmp_path / "out.pt"
    torch.save(state, source)
    spec = gray_spec(tmp_path, channels, 10)

    refused = cli("convert", spec, source, target)
    no_traceback(refused)
    assert refused.exit_code == 2 and not target.exists()
    assert "conv1.weight: shape 64 x 3 x 7 x 7, the model's is " in refused.stderr

    result = cli("convert", spec, source, target, "--adapt")
    assert result.exit_code == 0, result.output
    rule = "summed" if channels == 1 else f"repeated, scaled by 3/{channels}"
    lines = result.stdout.splitlines()
    assert f"adapted conv1.weight: 64 x 3 x 7 x 7 -> 64 x {channels} x 7 x 7 ({rule})" in lines
    assert sum(line.startswith("reset fc.") for line in lines) == 2
    written = torch.load(target, weights_only=True)
    kernel = state["conv1.weight"]
    if channels == 1:
        expected = kernel[:, 0:1] + kernel[:, 1:2] + kernel[:, 2:3]
    else:  # channels R, G, B, R, each times 3/4
        expected = torch.cat([kernel, kernel[:, :1]], dim=1) * 0.75
    torch.testing.assert_close(written["conv1.weight"], expected)
    assert written["fc.weight"].shape == (10, 512)
    for key in state:
        if key not in ("conv1.weight", "fc.weight", "fc.bias"):
            torch.testing.assert_close(written[key], state[key])


def test_adapt_leaves_other_mismatches_to_the_strict_load(tmp_path: Path, cli: Callable) -> None:
    state = resnet18_state()
    state["layer1.0.conv1.weight"] = torch.zeros(64, 32, 3, 3)
    source = tmp_path / "in.pt"
    torch.save(state, source)
    result = cli("convert", gray_spec(tmp_path, 1, 10), source, tmp_path / "o.pt", "--adapt")
    no_traceback(result)
    assert result.exit_code == 2
    assert "layer1.0.conv1.weight: shape 64 x 32 x 3 x 3" in result.stderr
    assert " conv1.weight: shape" not in result.stderr  # the stem was adapted


def test_transformers_names_map_to_torchvision_names() -> None:
    assert detect(["resnet.embedder.embedder.convolution.weight"]) is TRANSFORMERS
    assert detect(["embedder.embedder.convolution.weight"]) is TRANSFORMERS  # ResNetModel
    assert detect(["backbone.conv1.weight", "head.fc.bias"]) is OPENMMLAB
    assert detect(["conv1.weight", "fc.bias"]) is None
    cases = {
        "resnet.embedder.embedder.convolution.weight": "conv1.weight",
        "embedder.embedder.normalization.running_var": "bn1.running_var",
        "resnet.encoder.stages.0.layers.0.shortcut.convolution.weight": (
            "layer1.0.downsample.0.weight"
        ),
        "resnet.encoder.stages.3.layers.2.shortcut.normalization.bias": (
            "layer4.2.downsample.1.bias"
        ),
        "resnet.encoder.stages.1.layers.3.layer.2.convolution.weight": "layer2.3.conv3.weight",
        "encoder.stages.2.layers.10.layer.0.normalization.num_batches_tracked": (
            "layer3.10.bn1.num_batches_tracked"
        ),
        "classifier.1.weight": "fc.weight",
        "resnet.pooler.something": "resnet.pooler.something",  # no rule: the load names it
    }
    for theirs, ours in cases.items():
        assert rename(theirs, TRANSFORMERS) == ours, theirs


def test_openmmlab_checkpoint_converts(tmp_path: Path, cli: Callable) -> None:
    state = resnet18_state()
    mm = {("head." if key.startswith("fc.") else "backbone.") + key: v for key, v in state.items()}
    assert translate(mm)[0].keys() == state.keys()
    source, target = tmp_path / "mmpretrain.pth", tmp_path / "out.safetensors"
    torch.save({"meta": {"epoch": 100}, "state_dict": mm}, source)
    result = cli("convert", spec_path("resnet18"), source, target)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("read OpenMMLab")
    from safetensors.torch import load_file

    written = load_file(target)
    for key, value in state.items():
        torch.testing.assert_close(written[key], value)


def transformers_state(name: str) -> dict[str, torch.Tensor]:
    listing = json.loads((DATA / "transformers_state_dicts.json").read_text())[name]
    return trained_like(listing)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_transformers_names_cover_the_generated_model(name: str) -> None:
    """Every tensor of transformers' ResNetForImageClassification (its listing, checked
    against transformers by the reference suite) lands on the generated model's, shape for
    shape."""
    from helpers import build_generated

    state = transformers_state(name)
    renamed, dialect = translate(state)
    assert dialect is TRANSFORMERS
    own = build_generated("torch", name).state_dict()
    assert {k: tuple(v.shape) for k, v in renamed.items()} == {
        k: tuple(v.shape) for k, v in own.items()
    }


def test_transformers_resnet50_converts_to_the_keras_twin(tmp_path: Path, cli: Callable) -> None:
    pytest.importorskip("keras")
    from checkpoints import images, keras_outputs
    from helpers import generated_factory

    state = transformers_state("resnet50")
    source, target = tmp_path / "model.safetensors", tmp_path / "resnet50.weights.h5"
    from safetensors.torch import save_file

    save_file(state, source)
    result = cli("convert", spec_path("resnet50"), source, target)
    assert result.exit_code == 0, result.output
    assert "read transformers ResNetModel / ResNetForImageClassification names" in result.stdout
    reference = generated_factory("torch", "resnet50")().eval()
    reference.load_state_dict(translate(state)[0], strict=True)
    model = generated_factory("keras", "resnet50")()
    model.load_weights(target)
    x = images(2, 224)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    assert abs(keras_outputs(model, x) - expected).max() < 1e-4
