"""The generated Keras factory's keras.applications arguments, on every block kind and shortcut.

Against keras.applications itself where it has the network (ResNet50 is ``resnet50_v1``): with
weights copied by name, ``include_top=False`` with each ``pooling`` and the softmax classifier give
its shapes and values. On tiny specs of every block kind and shortcut policy: ``pooling="avg"``
and ``"max"`` are the mean and the max of the headless feature map, ``classifier_activation=
"softmax"`` is the softmax of the logits, the feature layers the module docstring names give the
PyTorch twin's ``forward_intermediates`` (weights moved by resgen.weights.transfer), and bad
arguments are refused with keras.applications' ValueErrors.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest
from checkpoints import randomize_keras_all
from helpers import generated_module, render_generated

keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")

from resgen.plan.planner import build_plan  # noqa: E402
from resgen.spec.models import Spec  # noqa: E402
from resgen.weights.transfer import copy_weights_by_name, torch_to_keras  # noqa: E402

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SIZE = 64  # keras.applications' ResNet50 needs 32 or more

BASE = {"num_classes": 5, "input": {"channels": 3, "size": 32}}
CIFAR = {"type": "cifar", "channels": 8}
THREE = [
    {"blocks": 1, "channels": 8},
    {"blocks": 2, "channels": 16, "stride": 2},
    {"blocks": 1, "channels": 16, "stride": 2},
]
# Tiny networks: every block kind, every shortcut policy, each stem.
TINY: dict[str, dict] = {
    "tiny_basic": {"stem": CIFAR, "block": {"type": "basic"}, "stages": THREE},
    "tiny_bottleneck_v1": {
        "stem": {"type": "imagenet", "channels": 8},
        "block": {"type": "bottleneck", "stride_on": "1x1", "groups": 2, "width_per_group": 16},
        "stages": THREE,
        "conv_bias": "all",
        "input": {"channels": 3, "size": 40},
    },
    "tiny_preact_bottleneck": {
        "stem": {"type": "imagenet", "channels": 8, "pool_padding": "zeros"},
        "block": {"type": "bottleneck", "preact": True, "stride_at": "last"},
        "stages": THREE,
        "stride_shortcut": "subsample",
        "conv_bias": "unnormalized",
        "input": {"channels": 3, "size": 48},
    },
    "tiny_preact_basic": {
        "stem": CIFAR,
        "block": {"type": "basic", "preact": True},
        "stages": THREE,
        "shortcut": "always_projection",
        "dropout": 0.5,
    },
    "tiny_zero_pad": {
        "stem": CIFAR,
        "block": {"type": "basic"},
        "stages": THREE,
        "shortcut": "zero_pad",
    },
    "tiny_plain": {"stem": CIFAR, "block": {"type": "basic"}, "stages": THREE, "shortcut": "none"},
    "tiny_resnet_d": {
        "stem": {"type": "deep", "channels": 8},
        "block": {"type": "bottleneck"},
        "stages": THREE,
        "shortcut": "avg_projection",
        "input": {"channels": 3, "size": 40},
    },
}


def spec_of(name: str) -> Spec:
    return Spec.model_validate({**BASE, "name": name, **TINY[name]})


def rendered(name: str, backend: str, folder: Path) -> ModuleType:
    """The synthetic spec ``name`` rendered for ``backend`` under ``folder`` and imported."""
    render_generated(spec_of(name), folder, (backend,))
    return generated_module(backend, name, folder)


def run(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def images(size: int, batch: int = 2, seed: int = 1):
    return np.random.default_rng(seed).standard_normal((batch, size, size, 3)).astype("float32")


# ----------------------------------------------------------------------------------------------
# against keras.applications.ResNet50 (resnet50_v1 reproduces it layer for layer)


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_headless_and_pooled_equal_keras_applications(pooling: str | None) -> None:
    theirs = keras.applications.ResNet50(
        weights=None, include_top=False, pooling=pooling, input_shape=(SIZE, SIZE, 3)
    )
    ours = generated_module("keras", "resnet50_v1").resnet50_v1(
        include_top=False, pooling=pooling, input_shape=(SIZE, SIZE, 3)
    )
    assert [layer.name for layer in ours.layers[1:]] == [layer.name for layer in theirs.layers[1:]]
    assert ours.output.shape == theirs.output.shape
    randomize_keras_all(theirs, gamma=(0.5, 1.5))
    copy_weights_by_name(theirs, ours)
    x = images(SIZE)
    expected, got = run(theirs, x), run(ours, x)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_softmax_classifier_equals_keras_applications() -> None:
    theirs = keras.applications.ResNet50(
        weights=None, classes=10, input_shape=(SIZE, SIZE, 3), classifier_activation="softmax"
    )
    module = generated_module("keras", "resnet50_v1")
    probabilities = module.resnet50_v1(
        num_classes=10, input_shape=(SIZE, SIZE, 3), classifier_activation="softmax"
    )
    logits = module.resnet50_v1(num_classes=10, input_shape=(SIZE, SIZE, 3))
    randomize_keras_all(theirs, gamma=(0.5, 1.5))
    copy_weights_by_name(theirs, probabilities)
    copy_weights_by_name(theirs, logits)
    x = images(SIZE)
    expected = run(theirs, x)
    np.testing.assert_allclose(run(probabilities, x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-5)
    z = run(logits, x)  # logits by default: their softmax is keras.applications' output
    softmax = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(axis=1, keepdims=True), expected, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# every block kind and shortcut, on tiny networks


def test_tiny_networks_cover_every_block_kind_and_shortcut() -> None:
    specs = [spec_of(name) for name in TINY]
    kinds = {(s.block.type, s.block.preact) for s in specs}
    assert kinds == {(k, p) for k in ("basic", "bottleneck") for p in (False, True)}
    assert {s.shortcut for s in specs} == {
        "zero_pad",
        "projection",
        "always_projection",
        "avg_projection",
        "none",
    }
    assert {s.stem.type for s in specs} == {"imagenet", "cifar", "deep"}


@pytest.mark.parametrize("name", list(TINY))
def test_head_arguments_mean_what_keras_applications_says(name: str, tmp_path: Path) -> None:
    factory = getattr(rendered(name, "keras", tmp_path), name)
    plan = build_plan(spec_of(name))
    size, last = plan.stem.in_size, plan.stages[-1]
    full = factory()
    randomize_keras_all(full, gamma=(0.5, 1.5))
    variants = {
        "headless": factory(include_top=False),
        "avg": factory(include_top=False, pooling="avg"),
        "max": factory(include_top=False, pooling="max"),
        "softmax": factory(classifier_activation="softmax"),
    }
    for model in variants.values():
        copy_weights_by_name(full, model, strict=False)
    x = images(size)
    headless = run(variants["headless"], x)
    assert headless.shape == (2, last.out_size, last.out_size, last.out_channels)
    assert variants["headless"].output.shape == (
        None,
        last.out_size,
        last.out_size,
        last.out_channels,
    )
    np.testing.assert_allclose(run(variants["avg"], x), headless.mean(axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(run(variants["max"], x), headless.max(axis=(1, 2)), atol=1e-6)
    assert variants["avg"].get_layer("avg_pool") and variants["max"].get_layer("max_pool")
    logits = run(full, x)
    assert logits.shape == (2, plan.head.num_classes)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        run(variants["softmax"], x), exp / exp.sum(1, keepdims=True), atol=1e-6
    )


def documented_feature_layers(module: ModuleType) -> list[str]:
    paragraph = module.__doc__.split("Feature maps for a pyramid", 1)[1].split(";", 1)[0]
    return re.findall(r"``(\w+)``", paragraph)


@pytest.mark.parametrize("name", list(TINY))
def test_documented_feature_layers_give_the_torch_intermediates(name: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    torch_model = getattr(rendered(name, "torch", tmp_path), name)(num_classes=0).eval()
    with torch.no_grad():
        for module in torch_model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.running_var.uniform_(0.5, 1.5)
                module.running_mean.normal_(0, 0.1)
    keras_module = rendered(name, "keras", tmp_path)
    model = getattr(keras_module, name)(include_top=False)
    torch_to_keras(torch_model, model)
    names = documented_feature_layers(keras_module)
    plan = build_plan(spec_of(name))
    assert names == [plan.stem.keras_feature, *(stage.keras_out for stage in plan.stages)]
    pyramid = keras.Model(model.input, [model.get_layer(n).output for n in names])
    x = images(plan.stem.in_size)
    maps = [keras.ops.convert_to_numpy(m) for m in pyramid(x, training=False)]
    with torch.no_grad():
        expected = torch_model.forward_intermediates(
            torch.from_numpy(x).permute(0, 3, 1, 2), intermediates_only=True
        )
    assert len(maps) == len(expected) == len(plan.stages) + 1
    for ours, theirs in zip(maps, expected, strict=True):
        np.testing.assert_allclose(ours, theirs.permute(0, 2, 3, 1).numpy(), atol=1e-4)


# ----------------------------------------------------------------------------------------------
# arguments


def test_bad_arguments_are_refused_as_keras_applications_refuses_them(tmp_path: Path) -> None:
    factory = rendered("tiny_basic", "keras", tmp_path).tiny_basic
    minimum = build_plan(spec_of("tiny_basic")).min_input_size
    cases = [
        ({"pooling": "mean"}, "`pooling` must be None"),
        ({"input_shape": (32, 32)}, "tuple of three integers"),
        ({"input_shape": (None, None, 3)}, "static `input_shape`"),
        ({"input_shape": (minimum - 1, 32, 3)}, f"at least {minimum}x{minimum}"),
        ({"input_tensor": np.zeros((1, 32, 32, 3))}, "must be a Keras tensor"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            factory(**kwargs)
    assert factory(input_shape=(minimum, minimum, 3)).output.shape == (None, 5)


def test_no_input_shape_without_the_top_takes_any_size(tmp_path: Path) -> None:
    factory = rendered("tiny_basic", "keras", tmp_path).tiny_basic
    assert factory(input_shape=None).input.shape == (None, 32, 32, 3)
    model = factory(input_shape=None, include_top=False, pooling="avg")
    assert model.input.shape == (None, None, None, 3)
    for size in (24, 40):
        assert run(model, images(size)).shape == (2, 16)


@pytest.mark.filterwarnings("error:The structure of `inputs`")
def test_input_tensor_builds_on_an_existing_graph(tmp_path: Path) -> None:
    factory = rendered("tiny_basic", "keras", tmp_path).tiny_basic
    source = keras.Input(shape=(32, 32, 3), name="pixels")
    scaled = keras.layers.Rescaling(1 / 255, name="scale")(source)
    model = factory(input_tensor=scaled, include_top=False, pooling="avg")
    assert model.input is source
    plain = factory(include_top=False, pooling="avg")
    randomize_keras_all(plain, gamma=(0.5, 1.5))
    copy_weights_by_name(plain, model)
    x = images(32) * 255
    np.testing.assert_allclose(run(model, x), run(plain, x / 255), atol=1e-5)
