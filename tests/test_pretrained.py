"""The spec's ``pretrained`` section: what the weights expect, against what references publish.

keras.applications' own ``preprocess_input`` (``caffe`` mode for ResNet50/101/152, ``tf`` mode
for the V2 family) is the truth for the Keras files' ``preprocess_input`` and, channel order
included, for the PyTorch files' ``PRETRAINED_CFG`` read with timm's meaning (RGB in [0, 1],
then ``(x - mean) / std``). torchvision's transforms and timm's pretrained_cfg are compared in
test_backbone_reference.py (they need the reference environment).
"""

from __future__ import annotations

import pytest
from helpers import generated_module, shipped_specs, spec_path

from resgen.check.validate import load_spec
from resgen.plan.planner import build_plan

np = pytest.importorskip("numpy")

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CASES = [
    ("resnet50_v1", "resnet"),
    ("resnet152_v1", "resnet"),
    ("resnet50_v2", "resnet_v2"),
    ("resnet101_v2", "resnet_v2"),
]


def rgb_images(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(3, 32, 40, 3)).astype("float32")


@pytest.mark.parametrize(("name", "module"), CASES)
def test_keras_preprocess_input_equals_keras_applications(name: str, module: str) -> None:
    keras = pytest.importorskip("keras")
    reference = getattr(keras.applications, module).preprocess_input
    x = rgb_images()
    expected = np.asarray(reference(x.copy()))
    ours = keras.ops.convert_to_numpy(generated_module("keras", name).preprocess_input(x))
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-4)
    assert not np.allclose(ours, x)  # it did something


@pytest.mark.parametrize(("name", "module"), CASES)
def test_torch_pretrained_cfg_means_the_same(name: str, module: str) -> None:
    """timm's reading of PRETRAINED_CFG (RGB in [0, 1], standardised), then the channel order
    the config names, gives keras.applications' preprocessing."""
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    x = rgb_images(1)
    expected = np.asarray(getattr(keras.applications, module).preprocess_input(x.copy()))
    cfg = generated_module("torch", name).PRETRAINED_CFG
    assert set(cfg) >= {"input_size", "interpolation", "crop_pct", "mean", "std"}
    images = torch.from_numpy(x).permute(0, 3, 1, 2) / 255
    mean = torch.tensor(cfg["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(cfg["std"]).view(1, -1, 1, 1)
    ours = (images - mean) / std
    if cfg["channel_order"] == "bgr":
        ours = ours.flip(1)
    np.testing.assert_allclose(ours.permute(0, 2, 3, 1).numpy(), expected, rtol=1e-5, atol=2e-3)


def test_default_is_imagenet_and_states_itself() -> None:
    cfg = generated_module("torch", "resnet20_cifar").PRETRAINED_CFG
    assert cfg["mean"] == (0.485, 0.456, 0.406) and cfg["std"] == (0.229, 0.224, 0.225)
    assert cfg["input_size"] == (3, 32, 32)
    plan = build_plan(load_spec(spec_path("resnet20_cifar")))
    assert plan.preprocessing is not None and not plan.preprocessing.given
    assert build_plan(load_spec(spec_path("resnet50"))).preprocessing.given


def test_the_specs_say_what_the_script_writes() -> None:
    """Every spec of a family with a published preprocessing carries the script's section."""
    for path in sorted(shipped_specs().values()):
        text = path.read_text()
        family = next(line for line in text.splitlines() if line.startswith("family:"))
        written = "# pretrained: written by scripts/pretrained_specs.py from " in text
        assert written == (family != "family: papers"), path.name


def test_train_normalises_with_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    """``resgen train`` takes the spec's mean and std (RGB, [0, 1] units) and its channel
    order; a spec without the section keeps the training images' own statistics."""
    from types import SimpleNamespace

    from resgen.train import session

    data = SimpleNamespace(num_classes=10)
    inputs = session.model_inputs(load_spec(spec_path("resnet50_v1")), data)
    caffe_rgb = (123.68 / 255, 116.779 / 255, 103.939 / 255)
    np.testing.assert_allclose(inputs.stats[0], caffe_rgb, rtol=1e-9)
    np.testing.assert_allclose(inputs.stats[1], (1 / 255,) * 3, rtol=1e-9)
    assert inputs.bgr
    inputs = session.model_inputs(load_spec(spec_path("resnet50")), data)
    assert inputs.stats == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) and not inputs.bgr
    monkeypatch.setattr(session, "channel_stats", lambda dataset: "from the images")
    inputs = session.model_inputs(load_spec(spec_path("resnet20_cifar")), data)
    assert inputs.stats == "from the images" and not inputs.bgr
