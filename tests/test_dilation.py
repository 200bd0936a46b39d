"""Dilated backbones (``output_stride`` 16 and 8) in the default suite.

The Keras twin equals the PyTorch model through resgen.weights.transfer at each output stride (the
shortcut's AvgPool2dSame, the blur at stride 1 where the dilation grows, ResNetV2's explicit
padding and stride on the last block); ``resgen summary`` for a spec whose default is 16 agrees
with a hand count of the dilated layer4; the default (32) files keep their strides. timm and
torchvision are the references in test_dilation_reference.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from checkpoints import randomize_torch
from helpers import REPO, build_generated, generated_module, render_generated

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SIZE = 64


def images(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, SIZE, SIZE, generator=generator)


@pytest.mark.parametrize("output_stride", (8, 16))
@pytest.mark.parametrize("name", ["resnetaa50d", "resnetblur18", "resnet50_v2"])
def test_keras_twin_equals_torch_when_dilated(name: str, output_stride: int) -> None:
    keras = pytest.importorskip("keras")
    from resgen.weights.transfer import torch_to_keras

    ours = randomize_torch(build_generated("torch", name, output_stride=output_stride)).eval()
    kwargs = {"input_shape": (SIZE, SIZE, 3), "output_stride": output_stride}
    model = build_generated("keras", name, **kwargs)
    torch_to_keras(ours, model)
    pool = next(x for x in model.layers if isinstance(x, keras.layers.GlobalAveragePooling2D))
    trunk = keras.Model(model.inputs, pool.input)
    x = images()
    nhwc = keras.ops.convert_to_tensor(x.permute(0, 2, 3, 1).numpy())
    with torch.no_grad():
        logits, last = ours(x), ours.forward_features(x)
    assert last.shape[-1] == SIZE // output_stride  # it really is dilated
    # The last map before pooling: pooled logits would average a local difference away.
    mine = torch.from_numpy(keras.ops.convert_to_numpy(trunk(nhwc, training=False)))
    torch.testing.assert_close(mine.permute(0, 3, 1, 2), last, rtol=1e-4, atol=1e-4)
    mine = torch.from_numpy(keras.ops.convert_to_numpy(model(nhwc, training=False)))
    torch.testing.assert_close(mine, logits, rtol=1e-4, atol=1e-4)


def _resnet50_os16(tmp_path: Path) -> Path:
    path = tmp_path / "resnet50_os16.yaml"
    base = REPO / "specs" / "resnet50.yaml"
    path.write_text(f"extends: {base}\nname: resnet50_os16\noutput_stride: 16\n")
    return path


def test_summary_shows_the_dilated_shapes_and_macs(tmp_path: Path, cli: Any) -> None:
    """layer4 of ResNet-50 at output stride 16 stays at 14 x 14 (224 px in): its MACs by hand,
    one multiply-accumulate per weight per output pixel of each conv (norms not counted)."""
    result = cli("summary", _resnet50_os16(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    stages = {stage["name"]: stage for stage in json.loads(result.stdout)["stages"]}
    assert stages["layer3"]["output"] == [1024, 14, 14]
    assert stages["layer4"]["output"] == [2048, 14, 14]
    first = 1024 * 512 + 9 * 512 * 512 + 512 * 2048 + 1024 * 2048  # with its projection
    other = 2048 * 512 + 9 * 512 * 512 + 512 * 2048
    assert stages["layer4"]["macs"] == 14 * 14 * (first + 2 * other)  # 2,928,672,768
    plain = json.loads(cli("summary", REPO / "specs" / "resnet50.yaml", "--json").stdout)
    assert json.loads(result.stdout)["params"] == plain["params"] == 25_557_032


def test_spec_default_sets_the_factories_default(tmp_path: Path) -> None:
    from resgen.check.validate import load_spec

    spec = load_spec(_resnet50_os16(tmp_path))
    render_generated(spec, tmp_path)
    module = generated_module("torch", "resnet50_os16", tmp_path)
    model = module.resnet50_os16().eval()
    assert [info["reduction"] for info in model.feature_info] == [2, 4, 8, 16, 16]
    # The file's FEATURE_INFO documents its default.
    assert [info["reduction"] for info in module.FEATURE_INFO] == [2, 4, 8, 16, 16]
    with torch.no_grad():
        assert model.forward_features(images()).shape[-1] == SIZE // 16
    undilated = module.resnet50_os16(output_stride=32).eval()
    assert [info["reduction"] for info in undilated.feature_info] == [2, 4, 8, 16, 32]


@pytest.mark.parametrize("name", ["resnet50", "resnet18", "resnet20_cifar", "resnet50_v2"])
def test_default_files_keep_their_strides(name: str) -> None:
    """At the shipped default (32) nothing is dilated: every 3x3 conv has dilation 1 and the
    maps have the strides of the network's table."""
    model = build_generated("torch", name)
    dilations = {m.dilation for m in model.modules() if isinstance(m, torch.nn.Conv2d)}
    assert dilations == {(1, 1)}
    module = generated_module("torch", name)
    assert [info["reduction"] for info in model.feature_info] == [
        info["reduction"] for info in module.FEATURE_INFO
    ]


def test_output_stride_is_checked() -> None:
    with pytest.raises(ValueError, match="output_stride must be 8, 16 or 32, not 4"):
        build_generated("torch", "resnet18", output_stride=4)


def test_wide_projection_when_dilated(tmp_path: Path, cli: Any) -> None:
    """A 3x3 projection (``projection_kernel: 3``, timm's down_kernel_size) stays 3x3 in a
    dilated stage's first block (timm's downsample_conv): the summary counts its weights, and
    the Keras twin equals the PyTorch model."""
    keras = pytest.importorskip("keras")
    from resgen.check.validate import load_spec
    from resgen.weights.transfer import torch_to_keras

    base = REPO / "specs" / "resnet18.yaml"
    path = tmp_path / "wide18.yaml"
    text = f"extends: {base}\nname: wide18\nprojection_kernel: 3\n"
    path.write_text(text)
    (tmp_path / "wide18_os16.yaml").write_text(
        text.replace("name: wide18", "name: wide18_os16") + "output_stride: 16\n"
    )
    plain = json.loads(cli("summary", path, "--json").stdout)["params"]
    dilated = json.loads(cli("summary", tmp_path / "wide18_os16.yaml", "--json").stdout)
    # layer4's projection 256 -> 512 is 3x3 at stride 2 and, dilated, at stride 1 too.
    assert dilated["params"] == plain
    assert dilated["stages"][-2]["output"] == [512, 14, 14]
    render_generated(load_spec(path), tmp_path)
    torch_module = generated_module("torch", "wide18", tmp_path)
    ours = randomize_torch(torch_module.wide18(output_stride=16)).eval()
    assert ours.layer4[0].downsample[0].kernel_size == (3, 3)
    assert ours.layer4[0].downsample[0].dilation == (1, 1)  # the previous stage's dilation
    model = generated_module("keras", "wide18", tmp_path).wide18(
        input_shape=(SIZE, SIZE, 3), output_stride=16
    )
    torch_to_keras(ours, model)
    x = images()
    with torch.no_grad():
        reference = ours(x)
    mine = model(keras.ops.convert_to_tensor(x.permute(0, 2, 3, 1).numpy()), training=False)
    torch.testing.assert_close(
        torch.from_numpy(keras.ops.convert_to_numpy(mine)), reference, rtol=1e-4, atol=1e-4
    )


def _counted_macs(model: torch.nn.Module, size: int) -> int:
    """Multiply-accumulates counted on the built model by forward hooks: a conv's weights per
    output pixel, a linear layer's weights, the blur pool's 3x3 filter per channel per output
    pixel (the convention resgen's summary states)."""
    total = 0

    def count(module: torch.nn.Module, _: Any, out: torch.Tensor) -> None:
        nonlocal total
        pixels = out.shape[-1] * out.shape[-2] if out.dim() == 4 else 1
        if type(module).__name__ == "BlurPool2d":
            total += 9 * module.channels * pixels
        else:
            total += module.weight.numel() * pixels

    for module in model.modules():
        blur = type(module).__name__ == "BlurPool2d"
        if blur or isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            module.register_forward_hook(count)
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, size, size))
    return total


@pytest.mark.parametrize("name", ["resnetblur50", "resnetaa50d"])
def test_summary_macs_equal_the_dilated_model(name: str, tmp_path: Path, cli: Any) -> None:
    """At a spec default of 16 the summary counts what the dilated model computes, the blur
    that timm runs at stride 1 where the dilation grows included."""
    path = tmp_path / "dilated.yaml"
    path.write_text(f"extends: {REPO / 'specs' / name}.yaml\nname: dilated\noutput_stride: 16\n")
    summary = json.loads(cli("summary", path, "--json").stdout)
    model = build_generated("torch", name, output_stride=16)
    assert summary["macs"] == _counted_macs(model, summary["input"][-1])


def test_keras_dilated_model_saves_and_loads(tmp_path: Path) -> None:
    """A .keras file keeps the blur pool's stride (1 where a dilated stage's dilation grows)."""
    keras = pytest.importorskip("keras")
    np = pytest.importorskip("numpy")
    model = build_generated("keras", "resnetblur18", input_shape=(SIZE, SIZE, 3), output_stride=8)
    strides = sorted({layer.stride for layer in model.layers if hasattr(layer, "stride")})
    assert strides == [1, 2]
    path = tmp_path / "dilated.keras"
    model.save(path)
    generated_module("keras", "resnetblur18")  # registers its layers
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        rtol=1e-5,
        atol=1e-5,
    )
