"""The modern knobs in the generated Keras files, each against a hand computation.

Squeeze-and-excitation, ECA, the blur pool, group norm and the activations are recomputed here
with NumPy from their papers' formulas; stochastic depth is checked by its statistics, timm's
linear rule and its place on the branch, and the head's dropout and drop path by being
identities at eval. Files using every custom layer survive a ``.keras`` round trip, and run with
the same outputs and train on the PyTorch and JAX backends. tests/test_transfer.py compares
every shipped spec's Keras twin with its PyTorch model.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from checkpoints import randomize_keras_all
from helpers import (
    generated_module,
    generated_path,
    import_file,
    installed,
    ruff_clean,
    run_python,
    shipped_specs,
)

keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")

from resgen.check.validate import checked_plan, load_spec  # noqa: E402
from resgen.components import anti_alias as anti_aliasing  # noqa: E402
from resgen.components.attention import eca, se  # noqa: E402
from resgen.plan.network import NetworkPlan  # noqa: E402
from resgen.plan.planner import build_plan  # noqa: E402
from resgen.rendering.render import render  # noqa: E402
from resgen.spec.models import Spec  # noqa: E402
from resgen.weights.transfer import copy_weights_by_name  # noqa: E402

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# The longest shipped file stays readable: ~300 lines for the network, ~60 for the backbone
# interface (FEATURE_INFO, preprocess_input, feature_maps, freeze), ~60 for dilation
# (stage_strides, and block signatures and conv calls with first_dilation and dilation, which
# ruff then lays out one argument a line); ResNeSt's split attention adds ~80 lines of helpers
# (its hidden width, two registered layers and split_attention: resnest200e, 460).
MAX_LINES = 470
# Pre-activation twins of mixed stages with attention, anti-aliasing, stochastic depth and a
# registered activation (no zoo member combines them) define two full block functions and five
# helpers: about 10% more (and dilation's ~60 lines, as above).
COMBINATION_MAX_LINES = 480


def rendered(folder: Path, data: dict[str, Any]) -> ModuleType:
    """A spec given here (knobs no zoo member combines), rendered and imported."""
    spec = Spec.model_validate(data)
    assert not checked_plan(spec)[1], checked_plan(spec)[1]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}.py"
    path.write_text(render(spec, "keras", f"specs/{spec.name}.yaml"), encoding="utf-8")
    return import_file(path, f"keras_knobs_{spec.name}")


def numpy(x: Any) -> Any:
    return keras.ops.convert_to_numpy(x)


def sigmoid(x: Any) -> Any:
    return 1 / (1 + np.exp(-x))


# --- attention -------------------------------------------------------------------------------


def test_squeeze_excitation_by_hand() -> None:
    """x * sigmoid(W2 relu(W1 mean(x) + b1) + b2), per sample and channel (Hu et al. eq. 2-4)."""
    module = generated_module("keras", "seresnet18")
    inputs = keras.Input((5, 7, 16))
    model = keras.Model(inputs, module.squeeze_excitation(inputs, hidden=8, name="t"))
    randomize_keras_all(model, gamma=(0.5, 1.0), shift=(-0.5, 0.5))
    x = np.random.default_rng(1).standard_normal((3, 5, 7, 16)).astype("float32")
    reduce, expand = model.get_layer("t_se_reduce"), model.get_layer("t_se_expand")
    w1, b1 = numpy(reduce.kernel).reshape(16, 8), numpy(reduce.bias)
    w2, b2 = numpy(expand.kernel).reshape(8, 16), numpy(expand.bias)
    gate = sigmoid(np.maximum(x.mean(axis=(1, 2)) @ w1 + b1, 0) @ w2 + b2)
    np.testing.assert_allclose(numpy(model(x)), x * gate[:, None, None, :], rtol=1e-5, atol=1e-6)
    suffixes = ["squeeze", "reduce", "relu", "expand", "gate", "excite"]
    assert [layer.name for layer in model.layers[1:]] == [f"t_se_{s}" for s in suffixes]


def test_efficient_channel_attention_by_hand() -> None:
    """x * sigmoid(w * mean(x)): a k-tap cross-correlation across the zero-padded channel axis
    (Wang et al. 2020), no bias."""
    module = generated_module("keras", "ecaresnet26t")
    channels, k = 12, 5
    inputs = keras.Input((4, 6, channels))
    model = keras.Model(inputs, module.efficient_channel_attention(inputs, kernel_size=k, name="t"))
    randomize_keras_all(model, gamma=(0.5, 1.0), shift=(-0.5, 0.5))
    conv = model.get_layer("t_eca_conv")
    assert [tuple(v.shape) for v in conv.weights] == [(k, 1, 1)]  # PyTorch's (1, 1, k), no bias
    taps = numpy(conv.kernel).reshape(k)
    x = np.random.default_rng(2).standard_normal((2, 4, 6, channels)).astype("float32")
    means = np.pad(x.mean(axis=(1, 2)), ((0, 0), (k // 2, k // 2)))
    logits = np.stack([means[:, c : c + k] @ taps for c in range(channels)], axis=1)
    np.testing.assert_allclose(numpy(model(x)), x * sigmoid(logits)[:, None, None, :], atol=1e-6)


def test_attention_of_a_silu_network_keeps_relu_and_sigmoid(tmp_path: Path) -> None:
    """timm's SE keeps its ReLU whatever the network's activation is; gates are sigmoids."""
    module = rendered(tmp_path, {"name": "silu_se", **TINY, "activation": "silu", **SE})
    model = module.silu_se(input_shape=(32, 32, 3))
    assert model.get_layer("conv2_block1_se_relu").activation.__name__ == "relu"
    assert model.get_layer("conv2_block1_se_gate").activation.__name__ == "sigmoid"
    assert model.get_layer("conv2_block1_1_act").activation.__name__ == "silu"
    assert model.get_layer("conv2_block1_out").activation.__name__ == "silu"
    assert model.get_layer("conv2_block1_se_reduce").filters == 8  # 16 / 4, at least 8


# --- anti-aliasing ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [7, 8, 13])
def test_blur_pool_by_hand(size: int) -> None:
    """Reflect-pad by one, filter each channel with [1, 2, 1] x [1, 2, 1] / 16, keep every other
    pixel (Zhang 2019): ceil(size / 2) outputs, no weights."""
    layer = generated_module("keras", "resnetblur18").BlurPool2D(name="blur")
    assert keras.saving.get_registered_name(type(layer)) == "resgen>BlurPool2D"
    x = np.random.default_rng(3).standard_normal((2, size, size, 3)).astype("float32")
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")  # PyTorch's reflect
    taps = np.array([1.0, 2.0, 1.0]) / 4
    out = math.ceil(size / 2)
    expected = np.zeros((2, out, out, 3))
    for i, j in itertools.product(range(out), range(out)):
        window = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]
        expected[:, i, j, :] = np.einsum("bhwc,h,w->bc", window, taps, taps)
    np.testing.assert_allclose(numpy(layer(x)), expected, atol=1e-6)
    assert layer.weights == []  # the filter is a constant, as timm's non-persistent buffer


def test_anti_aliasing_takes_the_stride_of_strided_blocks_only() -> None:
    blur = generated_module("keras", "resnetblur18").resnetblur18(input_shape=(64, 64, 3))
    assert type(blur.get_layer("conv3_block1_aa")).__name__ == "BlurPool2D"
    assert blur.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert blur.get_layer("conv3_block1_0_conv").strides == (2, 2)  # the shortcut keeps it
    names = {layer.name for layer in blur.layers}
    assert "conv3_block2_aa" not in names and "conv2_block1_aa" not in names
    # The stem: a 3x3/1 max pool, then the blur takes the stride.
    assert blur.get_layer("pool1_pool").strides == (1, 1)
    assert type(blur.get_layer("pool1_aa")).__name__ == "BlurPool2D"
    avg = generated_module("keras", "resnetaa50d").resnetaa50d(input_shape=(64, 64, 3))
    pool = avg.get_layer("conv3_block1_aa")
    assert (type(pool).__name__, pool.pool_size, pool.strides) == (
        "AveragePooling2D",
        (2, 2),
        (2, 2),
    )
    assert avg.get_layer("conv3_block1_2_conv").strides == (1, 1)
    assert type(avg.get_layer("pool1_pool")).__name__ == "AveragePooling2D"  # no max pool


def producer(model, layer: str) -> list[str]:
    """The layers whose outputs ``layer`` takes, by name."""
    inputs = model.get_layer(layer).input
    return [
        t._keras_history.operation.name for t in (inputs if isinstance(inputs, list) else [inputs])
    ]


def test_anti_aliasing_pools_after_the_activation_of_the_strided_conv() -> None:
    """timm's order: conv (stride 1), norm, activation, then the pool, then the next conv."""
    avg = generated_module("keras", "resnetaa50d").resnetaa50d(input_shape=(64, 64, 3))
    chain = ["conv3_block1_2_conv", "conv3_block1_2_bn", "conv3_block1_2_relu", "conv3_block1_aa"]
    for before, after in zip(chain, [*chain[1:], "conv3_block1_3_conv"], strict=True):
        assert producer(avg, after) == [before], after
    blur = generated_module("keras", "resnetblur18").resnetblur18(input_shape=(64, 64, 3))
    assert producer(blur, "conv3_block1_aa") == ["conv3_block1_1_relu"]
    assert producer(blur, "conv3_block1_2_conv") == ["conv3_block1_aa"]


# --- norms and activations -------------------------------------------------------------------


def test_group_norm_by_hand() -> None:
    """32 groups of contiguous channels, biased variance, epsilon 1e-5 (not Keras' 1e-3)."""
    module = generated_module("keras", "resnet50_gn")
    inputs = keras.Input((3, 4, 64))
    model = keras.Model(inputs, module.group_norm(inputs, name="t"))
    randomize_keras_all(model, gamma=(0.5, 1.0), shift=(-0.5, 0.5))
    layer = model.get_layer("t_bn")
    assert (type(layer).__name__, layer.groups, layer.epsilon) == ("GroupNormalization", 32, 1e-5)
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 64)).astype("float32") * 3 + 1
    grouped = x.reshape(2, 3, 4, 32, 2)
    mean = grouped.mean(axis=(1, 2, 4), keepdims=True)
    variance = grouped.var(axis=(1, 2, 4), keepdims=True)
    normalized = ((grouped - mean) / np.sqrt(variance + 1e-5)).reshape(x.shape)
    expected = normalized * numpy(layer.gamma) + numpy(layer.beta)
    np.testing.assert_allclose(numpy(model(x)), expected, rtol=1e-4, atol=1e-5)
    names = {type(layer).__name__ for layer in module.resnet50_gn(input_shape=(64, 64, 3)).layers}
    assert "BatchNormalization" not in names


def test_activations_by_hand(tmp_path: Path) -> None:
    """GELU is exact (erf), as timm's; its tanh approximation is a registered function; the two
    differ by more than the twin tolerance, so neither may stand in for the other."""
    x = np.linspace(-4, 4, 801).astype("float32")
    erf = np.vectorize(math.erf)
    exact = 0.5 * x * (1 + erf(x / math.sqrt(2)))
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    assert np.abs(exact - tanh).max() > 1e-4
    found = {}
    for activation in ("gelu", "gelu_tanh", "silu"):
        name = f"act_{activation}"
        module = rendered(tmp_path, {"name": name, **TINY, "activation": activation})
        model = getattr(module, name)(input_shape=(32, 32, 3))
        found[activation] = numpy(model.get_layer("conv1_act")(x))
    np.testing.assert_allclose(found["gelu"], exact, atol=1e-6)
    np.testing.assert_allclose(found["gelu_tanh"], tanh, atol=1e-6)
    np.testing.assert_allclose(found["silu"], x * sigmoid(x), atol=1e-6)
    module = rendered(tmp_path, {"name": "registered", **TINY, "activation": "gelu_tanh"})
    assert keras.saving.get_registered_name(module.gelu_tanh) == "resgen>gelu_tanh"


def test_a_stem_pool_after_silu_pads_with_minus_infinity(tmp_path: Path) -> None:
    """SiLU goes negative: a zero-padded max pool would differ from PyTorch's at the border."""
    data = {"name": "silu_stem", **TINY, "stem": {"type": "imagenet", "channels": 8}}
    model = rendered(tmp_path, {**data, "activation": "silu"}).silu_stem(input_shape=(32, 32, 3))
    assert type(model.get_layer("pool1_pad")).__name__ == "NegInfPadding2D"
    relu = rendered(tmp_path, {**data, "name": "relu_stem"}).relu_stem(input_shape=(32, 32, 3))
    assert type(relu.get_layer("pool1_pad")).__name__ == "ZeroPadding2D"


# --- stochastic depth and dropout ------------------------------------------------------------

DROP = {
    "num_classes": 3,
    "input": {"channels": 3, "size": 16},
    "stem": {"type": "cifar", "channels": 8},
    "block": {"type": "basic"},
    "stages": [{"blocks": 2, "channels": 8}, {"blocks": 2, "channels": 16, "stride": 2}],
}


def test_drop_path_rates_follow_timms_linear_rule(tmp_path: Path) -> None:
    """Block i of N drops with rate * i / (N - 1): none on the first, the full rate on the
    last; each drop layer sits on its branch, just before the sum."""
    module = rendered(tmp_path, {"name": "drop4", **DROP, "drop_path_rate": 0.4})
    model = module.drop4()
    rates = {}
    for i, block in enumerate(["conv2_block1", "conv2_block2", "conv3_block1", "conv3_block2"]):
        names = {layer.name for layer in model.layers}
        if f"{block}_drop" not in names:
            rates[i] = 0.0
            continue
        drop = model.get_layer(f"{block}_drop")
        rates[i] = drop.rate
        assert drop.noise_shape == (None, 1, 1, 1)  # whole samples
        assert any(t is drop.output for t in model.get_layer(f"{block}_add").input)
    # timm: drop_path_rate * net_block_idx / (net_num_blocks - 1), in that order of operations
    assert rates == {i: 0.4 * i / 3 for i in range(4)}
    assert math.isclose(rates[3], 0.4)


def test_drop_path_drops_whole_samples_and_rescales(tmp_path: Path) -> None:
    """In training, each sample's branch is zero with probability p or scaled by 1 / (1 - p) as
    a whole; at eval it passes unchanged."""
    model = rendered(tmp_path, {"name": "drop_stats", **DROP, "drop_path_rate": 0.4}).drop_stats()
    drop = model.get_layer("conv3_block2_drop")
    p, samples = 0.4, 4000
    x = np.random.default_rng(5).uniform(1, 2, (samples, 2, 2, 3)).astype("float32")
    out = numpy(drop(x, training=True))
    ratio = out / x
    kept = np.all(np.isclose(ratio, 1 / (1 - p)), axis=(1, 2, 3))
    dropped = np.all(ratio == 0, axis=(1, 2, 3))
    assert np.all(kept | dropped)  # never part of a sample
    assert abs(kept.mean() - (1 - p)) < 4 * math.sqrt(p * (1 - p) / samples)
    np.testing.assert_array_equal(numpy(drop(x, training=False)), x)


def test_drop_path_and_dropout_are_identities_at_eval(tmp_path: Path) -> None:
    """The same weights with and without stochastic depth and the head's dropout give the same
    outputs at eval."""
    with_drop = rendered(
        tmp_path, {"name": "with_drop", **DROP, "drop_path_rate": 0.5, "dropout": 0.5}
    ).with_drop()
    without = rendered(tmp_path, {"name": "without", **DROP}).without()
    assert with_drop.get_layer("top_dropout").rate == 0.5
    randomize_keras_all(with_drop, gamma=(0.5, 1.0), shift=(-0.5, 0.5))
    assert copy_weights_by_name(with_drop, without) == len([m for m in without.layers if m.weights])
    x = np.random.default_rng(6).standard_normal((4, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(
        numpy(with_drop(x, training=False)), numpy(without(x, training=False))
    )
    assert not np.array_equal(numpy(with_drop(x, training=True)), numpy(without(x, training=True)))


# --- files: size, ruff, serialization, backends ----------------------------------------------

TINY = {
    "num_classes": 4,
    "input": {"channels": 3, "size": 32},
    "stem": {"type": "cifar", "channels": 16},
    "block": {"type": "basic"},
    "stages": [{"blocks": 1, "channels": 16}, {"blocks": 1, "channels": 32, "stride": 2}],
}
SE = {"block": {"type": "basic", "attention": {"type": "se", "ratio": 0.25}}}

# Two tiny networks holding every layer the knobs add: the -inf padding of a stem pool after a
# negative activation, the blur pool (stem and blocks), the registered tanh GELU, option A's
# layer, squeeze-and-excitation, group norm, weight-standardised convs and stochastic depth;
# ECA, the anti-aliased conv stem pool with an average pool, exact GELU, mixed block kinds, 3x3
# projections, reduce_first.
EVERY_LAYER = {
    "knobs_a": {
        "num_classes": 5,
        "input": {"channels": 3, "size": 33},
        "stem": {"type": "imagenet", "channels": 8},
        "block": {"type": "basic", "attention": {"type": "se"}},
        "stages": [{"blocks": 1, "channels": 8}, {"blocks": 2, "channels": 16, "stride": 2}],
        "shortcut": "zero_pad",
        "anti_alias": "blur",
        "activation": "gelu_tanh",
        "norm": {"type": "group", "groups": 4},
        "conv": {"type": "weight_standardized", "eps": 1e-8},
        "drop_path_rate": 0.1,
    },
    "knobs_b": {
        "num_classes": 5,
        "input": {"channels": 3, "size": 64},
        "stem": {"type": "deep", "widths": [8, 8, 16], "pool": "conv"},
        "block": {"type": "bottleneck", "attention": {"type": "eca"}},
        "stages": [
            {"blocks": 1, "channels": 8, "block_type": "basic"},
            {"blocks": 1, "channels": 8, "stride": 2},
            {"blocks": 1, "channels": 16, "stride": 2, "block_type": "basic"},
        ],
        "projection_kernel": 3,
        "anti_alias": "avg",
        "activation": "gelu",
        "zero_init_residual": True,
    },
}


def test_every_generated_file_stays_readable() -> None:
    lengths = {
        name: len(generated_path("keras", name).read_text().splitlines())
        for name in shipped_specs()
    }
    longest = max(lengths, key=lengths.__getitem__)
    assert lengths[longest] <= MAX_LINES, (longest, lengths[longest])


def knob_combinations() -> list[Spec]:
    """Every activation, attention and anti-aliasing crossed with every block kind; norms, stem
    pools, drop path, reduce_first, 3x3 projections and mixed stages cycled through."""
    specs = []
    combinations = itertools.product(
        ("relu", "silu", "gelu", "gelu_tanh"),
        (None, {"type": "se"}, {"type": "eca", "kernel_size": 3}),
        ("none", "avg", "blur"),
        ("basic", "bottleneck"),
        (False, True),
    )
    for index, (activation, attention, anti_alias, kind, preact) in enumerate(combinations):
        block: dict[str, Any] = {"type": kind, "preact": preact, "attention": attention}
        if index % 5 == 0:
            block["reduce_first"] = 2
        stages: list[dict[str, Any]] = [
            {"blocks": 2, "channels": 32},
            {"blocks": 2, "channels": 64, "stride": 2},
        ]
        if index % 7 == 3 and "reduce_first" not in block:
            stages[1]["block_type"] = "basic" if kind == "bottleneck" else "bottleneck"
        data = {
            "name": f"knobs{index}_net",
            "num_classes": 10,
            "input": {"channels": 3, "size": 64},
            "stem": {"type": ("imagenet", "deep")[index % 2], "channels": 32},
            "block": block,
            "stages": stages,
            "shortcut": ("projection", "avg_projection", "always_projection")[index % 3],
            "activation": activation,
            "anti_alias": anti_alias,
            "norm": {"type": "group", "groups": 8} if index % 4 == 1 else {},
            "drop_path_rate": 0.2 if index % 3 == 1 else 0.0,
            "zero_init_residual": index % 4 == 2 and not preact,
        }
        if index % 6 == 4 and not preact:
            data["stem"]["pool"] = "conv"
        if data["shortcut"] != "avg_projection" and index % 5 == 2:
            data["projection_kernel"] = 3
        spec = Spec.model_validate(data)
        assert not checked_plan(spec)[1], (data, checked_plan(spec)[1])
        specs.append(spec)
    return specs


def helpers_defined(text: str, plan: NetworkPlan) -> None:
    """A file defines a knob's helper exactly where its network uses the knob, and no Lambda
    layer (Lambdas do not serialise safely): custom layers are registered classes."""
    used = {
        "def squeeze_excitation(": se.KIND in plan.attention_kinds,
        "def efficient_channel_attention(": eca.KIND in plan.attention_kinds,
        "class BlurPool2D(layers.Layer):": plan.anti_alias == anti_aliasing.kind("blur"),
        "def gelu_tanh(": plan.activation == "gelu_tanh",
        "def group_norm(": plan.norm.kind.type == "group",
        "def batch_norm(": plan.norm.kind.type == "batch",
        "def drop_path_rate(": plan.drop_path,
    }
    for line, expected in used.items():
        assert (line in text) == expected, (plan.name, line)
    assert "Lambda" not in text


def test_every_knob_combination_renders_ruff_clean(tmp_path: Path) -> None:
    """Formatted by construction, whatever the knobs: what ruff would write is written; each
    file holds the helpers its knobs use and no others."""
    for spec in knob_combinations():
        text = render(spec, "keras", "specs/x.yaml")
        assert len(text.splitlines()) <= COMBINATION_MAX_LINES, spec.name
        helpers_defined(text, build_plan(spec))
        (tmp_path / f"{spec.name}.py").write_text(text)
    ruff_clean(tmp_path)


def test_every_shipped_file_defines_the_helpers_it_uses() -> None:
    for name, path in shipped_specs().items():
        text = generated_path("keras", name).read_text()
        helpers_defined(text, build_plan(load_spec(path)))


# The layer classes each network must hold (what the round trip has to restore).
LAYER_CLASSES = {
    "knobs_a": {
        "NegInfPadding2D",
        "BlurPool2D",
        "ZeroPadShortcut",
        "GroupNormalization",
        "StdConv2D",
    },
    "knobs_b": {"Conv1D", "AveragePooling2D", "Reshape", "BatchNormalization"},
}


def test_every_custom_layer_survives_a_keras_file_round_trip(tmp_path: Path) -> None:
    for name, data in EVERY_LAYER.items():
        module = rendered(tmp_path / "src", {"name": name, **data})
        size = data["input"]["size"]
        model = getattr(module, name)(input_shape=(size, size, 3))
        randomize_keras_all(model, gamma=(0.5, 1.0), shift=(-0.5, 0.5))
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
        assert LAYER_CLASSES[name] <= {type(layer).__name__ for layer in loaded.layers}
        x = np.random.default_rng(7).standard_normal((2, size, size, 3)).astype("float32")
        np.testing.assert_array_equal(
            numpy(loaded(x, training=False)), numpy(model(x, training=False))
        )


BACKEND_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
import keras
from helpers import build_to_load, import_file

keras.utils.set_random_seed(0)
folder = sys.argv[1]
expected = np.load(f"{folder}/expected.npz")
for name in ("knobs_a", "knobs_b"):
    module = import_file(Path(folder, "src", f"{name}.py"))
    x = expected[f"{name}_x"]
    model = build_to_load(getattr(module, name), input_shape=x.shape[1:])
    model.load_weights(f"{folder}/{name}.weights.h5")
    diff = np.abs(keras.ops.convert_to_numpy(model(x, training=False)) - expected[name]).max()
    assert diff < 1e-4, (name, diff)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_weights]
    loss = model.fit(x, np.array([0, 3, 1, 4]), epochs=1, batch_size=4, verbose=0)
    loss = loss.history["loss"][0]
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_weights]
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, after))
    assert np.isfinite(loss) and changed == len(before), (name, loss, changed, len(before))
    print(name, keras.backend.backend(), f"diff {diff:.1e} loss {loss:.3f}")
"""


@pytest.mark.parametrize(
    "backend",
    [
        "torch",
        pytest.param(
            "jax", marks=pytest.mark.skipif(not installed("jax"), reason="jax is not installed")
        ),
    ],
)
def test_every_custom_layer_runs_and_trains_on_other_backends(backend: str, tmp_path: Path) -> None:
    """Weights saved here (TensorFlow) give the same outputs on ``backend``, and one SGD step
    there moves every trainable weight (gradients flow through every custom layer)."""
    arrays = {}
    for name, data in EVERY_LAYER.items():
        module = rendered(tmp_path / "src", {"name": name, **data})
        size = data["input"]["size"]
        model = getattr(module, name)(input_shape=(size, size, 3))
        randomize_keras_all(model, gamma=(0.5, 1.0), shift=(-0.5, 0.5))
        model.save_weights(tmp_path / f"{name}.weights.h5")
        x = np.random.default_rng(8).standard_normal((4, size, size, 3)).astype("float32")
        arrays[f"{name}_x"] = x
        arrays[name] = numpy(model(x, training=False))
    np.savez(tmp_path / "expected.npz", **arrays)
    result = run_python(BACKEND_SCRIPT, tmp_path, keras_backend=backend)
    assert result.stdout.count(f" {backend} ") == 2, result.stdout


def test_params_of_the_knob_networks_equal_the_plan(tmp_path: Path) -> None:
    for name, data in EVERY_LAYER.items():
        spec = Spec.model_validate({"name": name, **data})
        model = getattr(rendered(tmp_path, {"name": name, **data}), name)()
        trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
        assert trainable == build_plan(spec).params
