"""The committed generated/keras files: they match keras.applications, count what the plan counts,
stay ruff-clean and framework-pure, serialize, and train on every Keras backend.

Every test imports the committed bytes under generated/keras by file path (the golden record),
so what is tested is what users vendor.
"""

from __future__ import annotations

import ast
import json
import sys
import textwrap
from pathlib import Path

import pytest
from checkpoints import randomize_keras_all
from helpers import (
    GENERATED,
    build_generated,
    framework_env,
    generated_module,
    generated_path,
    installed,
    render_generated,
    ruff_clean,
    run_python,
    run_resgen,
    shipped_specs,
    spec_path,
)

keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")

from resgen.check.validate import checked_plan, load_spec  # noqa: E402
from resgen.plan.planner import build_plan  # noqa: E402
from resgen.rendering.render import render  # noqa: E402
from resgen.spec.models import Spec  # noqa: E402
from resgen.weights.transfer import TransferError, copy_weights_by_name  # noqa: E402

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


KERAS = GENERATED / "keras"
SPEC_NAMES = sorted(shipped_specs())

# keras.applications builders and their published trainable parameter counts (shared/reference).
APPLICATIONS = {
    "resnet50_v1": ("ResNet50", 25_583_592),
    "resnet101_v1": ("ResNet101", 44_601_832),
    "resnet152_v1": ("ResNet152", 60_268_520),
    "resnet50_v2": ("ResNet50V2", 25_568_360),
    "resnet101_v2": ("ResNet101V2", 44_577_896),
    "resnet152_v2": ("ResNet152V2", 60_236_904),
}
OUTPUT_TOLERANCE = 1e-5
# Full size where it is cheap enough; 64x64 elsewhere (the layers and weights do not change).
FULL_SIZE = {"resnet50_v1"}


def weighted(model) -> list[tuple[str, str, list[tuple[int, ...]]]]:
    return [
        (layer.name, type(layer).__name__, [tuple(v.shape) for v in layer.weights])
        for layer in model.layers
        if layer.weights
    ]


def test_every_shipped_spec_is_generated() -> None:
    assert sorted(p.stem for p in KERAS.glob("*.py")) == SPEC_NAMES


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_same_layers_and_outputs_as_keras_applications(name: str) -> None:
    builder, published = APPLICATIONS[name]
    size = 224 if name in FULL_SIZE else 64
    ours = build_generated("keras", name, input_shape=(size, size, 3))
    theirs = getattr(keras.applications, builder)(
        weights=None, input_shape=(size, size, 3), classifier_activation=None
    )
    # Every weighted layer: same name, class, order and weight shapes.
    assert weighted(ours) == weighted(theirs)
    # Every layer: same class in the same place, and the same name except where
    # keras.applications leaves one to Keras' global counter: the input, and ResNetV2's
    # stride-only shortcut (a 1x1 max pool, named <block>_0_pool here).
    assert [type(a).__name__ for a in ours.layers] == [type(b).__name__ for b in theirs.layers]
    plan = build_plan(load_spec(spec_path(name)))
    pools = {f"{b.keras_name}_0_pool" for b in plan.blocks if b.shortcut == "subsample"}
    renamed = {}
    for a, b in zip(ours.layers, theirs.layers, strict=True):
        if a.name != b.name:
            renamed[a.name] = b.name
    assert renamed.keys() - {"input_layer"} == pools
    assert all(renamed[pool].startswith("max_pooling2d") for pool in pools)
    assert len(pools) == (3 if name.endswith("_v2") else 0)
    assert ours.count_params() == theirs.count_params()
    trainable = sum(int(np.prod(v.shape)) for v in ours.trainable_weights)
    assert trainable == published

    # Norm scales around 1 (not the default [0.1, 0.5]): deep networks then keep the input's
    # signal. With scales in [0.1, 0.5] two inputs' outputs differed by only 3e-4 (ResNet50) to
    # 6e-4 (ResNet152V2) at 64 px, 30x the tolerance, and the classifier's bias alone made the
    # output look non-trivial: a norm epsilon of 1e-4 instead of 1.001e-5 then passed.
    randomize_keras_all(theirs, gamma=(0.5, 1.5))
    assert copy_weights_by_name(theirs, ours) == len(weighted(theirs))
    x = np.random.default_rng(1).standard_normal((2, size, size, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs(x, training=False))
    got = keras.ops.convert_to_numpy(ours(x, training=False))
    # The input-dependent part of the output is far above the tolerance.
    assert np.abs(expected[0] - expected[1]).max() > 1000 * OUTPUT_TOLERANCE
    assert np.abs(got - expected).max() < OUTPUT_TOLERANCE


def test_copy_by_name_refuses_a_different_architecture() -> None:
    ours = build_generated("keras", "resnet50_v1", input_shape=(64, 64, 3))
    theirs = keras.applications.ResNet50V2(weights=None, input_shape=(64, 64, 3))
    before = keras.ops.convert_to_numpy(ours.get_layer("conv1_conv").kernel)
    with pytest.raises(TransferError) as raised:
        copy_weights_by_name(theirs, ours)
    problems = raised.value.problems
    assert "target conv1_bn: no source layer of that name" in problems
    assert "source post_bn: no target layer of that name" in problems
    assert any(p.startswith("conv2_block1_1_conv: source shapes") for p in problems)
    # Nothing was copied.
    after = keras.ops.convert_to_numpy(ours.get_layer("conv1_conv").kernel)
    np.testing.assert_array_equal(before, after)


def test_copy_by_name_without_strict_leaves_a_new_head_alone() -> None:
    """The fine-tuning case: a headless keras.applications model into ours with 10 classes."""
    ours = build_generated("keras", "resnet50_v2", num_classes=10, input_shape=(64, 64, 3))
    theirs = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
    randomize_keras_all(theirs)
    head = keras.ops.convert_to_numpy(ours.get_layer("predictions").kernel)
    with pytest.raises(TransferError, match="target predictions: no source layer"):
        copy_weights_by_name(theirs, ours)
    assert copy_weights_by_name(theirs, ours, strict=False) == len(weighted(ours)) - 1
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ours.get_layer("post_bn").gamma),
        keras.ops.convert_to_numpy(theirs.get_layer("post_bn").gamma),
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ours.get_layer("predictions").kernel), head
    )


# One shipped spec per layout the templates emit: basic, v1.5 bottleneck, v1 (bias, stride on
# the 1x1), ResNetV2, pre-activation CIFAR bottleneck, ResNeXt, ResNet-D, option A, plain; and
# timm's knobs: squeeze-and-excitation, ECA with the tiered stem, the blur and average-pool
# anti-aliasing, group norm, ResNet-RS's conv stem pool, mixed block kinds.
LAYOUTS = (
    "resnet18",
    "resnet50",
    "resnet50_v1",
    "resnet50_v2",
    "preact_resnet164_cifar",
    "resnext50_32x4d",
    "resnet50d",
    "resnet20_cifar",
    "plain20_cifar",
    "seresnet18",
    "ecaresnet26t",
    "resnetblur18",
    "resnetaa34d",
    "resnet50_gn",
    "resnetrs50",
    "test_resnet",
)


def test_every_layout_counts_the_plan_and_builds_on_the_torch_backend() -> None:
    """On Keras' PyTorch backend, one spec per layout builds at its own input size: trainable
    parameters equal the plan's (which ``resgen summary`` prints), the output is (batch,
    num_classes) and every block ends at the planned shape. test_transfer.py holds the same on the
    TensorFlow backend for one spec of every layout (for every shipped spec with -m slow), where
    it builds them anyway."""
    script = textwrap.dedent(
        """
        import json, math, sys
        import keras
        from helpers import build_generated

        found = {}
        for name in sys.argv[1:]:
            model = build_generated("keras", name)
            found[name] = {
                "backend": keras.backend.backend(),
                "trainable": sum(math.prod(v.shape) for v in model.trainable_weights),
                "output": list(model.output.shape),
                "blocks": {
                    layer.name[: -len("_out")]: list(layer.output.shape)
                    for layer in model.layers
                    if layer.name.endswith("_out")
                },
            }
        print(json.dumps(found))
        """
    )
    result = run_python(script, *LAYOUTS, keras_backend="torch")
    found = json.loads(result.stdout.splitlines()[-1])
    for name in LAYOUTS:
        plan = build_plan(load_spec(spec_path(name)))
        assert found[name]["backend"] == "torch"
        assert found[name]["trainable"] == plan.params == summary_params(name), name
        assert found[name]["output"] == [None, plan.head.num_classes], name
        expected = {
            block.keras_name: [None, block.out_size, block.out_size, block.out_channels]
            for block in plan.blocks
        }
        assert found[name]["blocks"] == expected, name


def summary_params(name: str) -> int:
    """The parameter count ``resgen summary --json`` prints, run in-process."""
    from click.testing import CliRunner

    from resgen.cli.commands import main

    result = CliRunner().invoke(main, ["summary", "--json", str(spec_path(name))])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["params"]


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_imports_are_keras_and_stdlib_only(name: str) -> None:
    tree = ast.parse(generated_path("keras", name).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None
            imported.add(node.module.split(".")[0])
    assert "keras" in imported
    assert imported - {"keras"} <= set(sys.stdlib_module_names), imported


def test_generated_keras_is_ruff_clean_under_defaults() -> None:
    ruff_clean(KERAS)


def knob_combinations() -> list[Spec]:
    """Every block kind, shortcut and bias crossed, the other knobs cycled; extreme names,
    widths, class counts and input sizes in half (lines whose length depends on the spec)."""
    import itertools

    specs = []
    for index, (kind, preact, shortcut, bias, big) in enumerate(
        itertools.product(
            ("basic", "bottleneck", "grouped"),
            (False, True),
            ("zero_pad", "projection", "always_projection", "avg_projection", "none"),
            ("none", "all", "unnormalized"),
            (False, True),
        )
    ):
        stem = ("imagenet", "cifar", "deep")[index % 3]
        block = {"type": "basic" if kind == "basic" else "bottleneck", "preact": preact}
        if kind == "grouped":
            block |= {"groups": 32, "width_per_group": 4, "stride_on": ("3x3", "1x1")[index % 2]}
        if index % 3 == 0:
            block["stride_at"] = "last"
        data = {
            "name": f"k{index}_" + ("x" * 55 if big else "net"),
            "description": 'A "quoted" \\ description """' * (3 if big else 1),
            "num_classes": 999_999 if big else 10,
            "input": {"channels": 64 if big else 3, "size": 4096 if big else 64},
            "stem": {"type": stem, "channels": 64},
            "block": block,
            "stages": [{"blocks": 2, "channels": 64}, {"blocks": 2, "channels": 128, "stride": 2}],
            "shortcut": shortcut,
            "conv_bias": bias,
            "zero_init_residual": index % 4 == 1 and not preact and shortcut != "none",
            "dropout": 0.25 if index % 5 == 0 else 0.0,
            "norm": {"eps": 1e-3, "momentum": 0.3},
        }
        if stem != "cifar" and index % 2:
            data["stem"]["pool_padding"] = "zeros"
        if shortcut in ("projection", "avg_projection") and index % 7 < 3:
            data["stride_shortcut"] = "subsample"
        spec = Spec.model_validate(data)
        assert not checked_plan(spec)[1], data
        specs.append(spec)
    return specs


def test_every_knob_combination_renders_ruff_clean(tmp_path: Path) -> None:
    """Formatted by construction: what ruff format would write is what the templates write."""
    for spec in knob_combinations():
        (tmp_path / f"{spec.name}.py").write_text(render(spec, "keras", "specs/x.yaml"))
    ruff_clean(tmp_path)


def test_golden_tree_and_bytes_identical_across_hash_seeds(tmp_path: Path) -> None:
    check = run_resgen("build", "specs/", "--backend", "keras", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    for seed in ("1", "4242"):
        out = tmp_path / seed
        env = framework_env(PYTHONHASHSEED=seed)
        done = run_resgen("build", "specs/", "--backend", "keras", "--out", out, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        for name in SPEC_NAMES:
            built = generated_path("keras", name, out).read_bytes()
            assert built == generated_path("keras", name).read_bytes(), name


def test_summary_prints_the_plan_count() -> None:
    for name in ("resnet20_cifar", "resnet50d"):
        plan = build_plan(load_spec(spec_path(name)))
        printed: list[str] = []
        model = build_generated("keras", name, input_shape=(64, 64, 3))
        model.summary(print_fn=lambda line, *_, out=printed, **__: out.append(line))
        text = "\n".join(printed)
        assert f"Trainable params: {plan.params:,}" in text
        assert "conv2_block1_1_conv" in text


# A pre-activation ImageNet stem: its max pool follows a bare conv, so the file pads with -inf
# through its own NegInfPadding2D layer (no shipped spec has one).
NEG_INF_STEM = {
    "name": "preact_stem",
    "num_classes": 4,
    "input": {"channels": 3, "size": 33},
    "stem": {"type": "imagenet", "channels": 8},
    "block": {"type": "basic", "preact": True},
    "stages": [{"blocks": 1, "channels": 8}, {"blocks": 1, "channels": 16, "stride": 2}],
}


def render_to(folder: Path, data: dict) -> Spec:
    """Render ``data`` to ``folder/keras/<name>.py``, where :func:`build_generated` finds it."""
    spec = Spec.model_validate(data)
    render_generated(spec, folder, ("keras",))
    return spec


@pytest.mark.parametrize(
    ("name", "size"), [("resnet20_cifar", 32), ("resnet50_v2", 64), ("preact_stem", 33)]
)
def test_keras_file_round_trip(name: str, size: int, tmp_path: Path) -> None:
    folder = GENERATED
    if name == "preact_stem":
        folder = tmp_path / "src"
        render_to(folder, NEG_INF_STEM)
    model = build_generated("keras", name, folder, input_shape=(size, size, 3))
    randomize_keras_all(model)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    x = np.random.default_rng(0).standard_normal((2, size, size, 3)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
    )


def test_custom_layers_are_registered_and_exact() -> None:
    module = generated_module("keras", "resnet20_cifar")
    layer = module.ZeroPadShortcut(out_channels=6, stride=2, name="pad")
    assert keras.saving.get_registered_name(type(layer)) == "resgen>ZeroPadShortcut"
    x = np.arange(2 * 5 * 5 * 4, dtype="float32").reshape(2, 5, 5, 4)
    got = keras.ops.convert_to_numpy(layer(x))
    expected = np.concatenate([x[:, ::2, ::2, :], np.zeros((2, 3, 3, 2), "float32")], axis=-1)
    np.testing.assert_array_equal(got, expected)
    assert layer.get_config()["out_channels"] == 6


def test_neg_inf_padding_never_wins_the_max(tmp_path: Path) -> None:
    render_to(tmp_path, NEG_INF_STEM)
    module = generated_module("keras", "preact_stem", tmp_path)
    pad = module.NegInfPadding2D(padding=1)
    x = -1.0 - np.random.default_rng(0).random((1, 4, 4, 2)).astype("float32")
    pooled = keras.layers.MaxPooling2D(3, strides=2)(pad(x))
    # PyTorch's max pool with padding 1: windows clipped to the image.
    expected = np.stack(
        [
            [x[0, max(0, 2 * i - 1) : 2 * i + 2, max(0, 2 * j - 1) : 2 * j + 2].max((0, 1))]
            for i in range(2)
            for j in range(2)
        ]
    ).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(pooled), expected)


def test_norms_use_the_keras_momentum_convention_and_init_mirrors_torch() -> None:
    v1 = build_generated("keras", "resnet50_v1", input_shape=(64, 64, 3))
    norm = v1.get_layer("conv2_block1_1_bn")
    assert (norm.momentum, norm.epsilon) == (0.99, 1.001e-5)
    model = build_generated("keras", "resnet20_cifar")
    norm = model.get_layer("conv2_block1_1_bn")
    assert (norm.momentum, norm.epsilon) == (0.9, 1e-5)
    assert np.all(keras.ops.convert_to_numpy(norm.gamma) == 1)
    # He-normal, fan-out: std sqrt(2 / (k * k * out)); a fresh draw per layer.
    kernels = [
        keras.ops.convert_to_numpy(model.get_layer(f"conv4_block{i}_2_conv").kernel)
        for i in (1, 2, 3)
    ]
    expected = np.sqrt(2.0 / (3 * 3 * 64))
    for kernel in kernels:
        assert abs(kernel.std() / expected - 1) < 0.05
        assert abs(kernel.mean()) < 0.1 * expected
    assert not np.array_equal(kernels[0], kernels[1])
    # Fan-out, not fan-in: 1x1 convs whose input and output widths differ (Keras kernels are
    # (k, k, in, out)): 256 -> 1024 and 512 -> 256, a factor sqrt(2) apart either way.
    for layer, fan_out, fan_in in (
        ("conv4_block1_3_conv", 1024, 256),
        ("conv4_block1_1_conv", 256, 512),
    ):
        kernel = keras.ops.convert_to_numpy(v1.get_layer(layer).kernel)
        assert kernel.shape == (1, 1, fan_in, fan_out)
        assert abs(kernel.std() / np.sqrt(2.0 / fan_out) - 1) < 0.02, layer
        assert abs(kernel.std() / np.sqrt(2.0 / fan_in) - 1) > 0.2, layer


def test_zero_init_residual_and_dropout(tmp_path: Path) -> None:
    data = {
        "name": "tiny_zero_init",
        "num_classes": 3,
        "input": {"channels": 3, "size": 16},
        "stem": {"type": "cifar", "channels": 8},
        "block": {"type": "bottleneck"},
        "stages": [{"blocks": 2, "channels": 4}],
        "zero_init_residual": True,
        "dropout": 0.2,
    }
    render_to(tmp_path, data)
    model = build_generated("keras", "tiny_zero_init", tmp_path)
    for block in ("conv2_block1", "conv2_block2"):
        gamma = keras.ops.convert_to_numpy(model.get_layer(f"{block}_3_bn").gamma)
        assert np.all(gamma == 0)
        assert np.all(keras.ops.convert_to_numpy(model.get_layer(f"{block}_1_bn").gamma) == 1)
    assert model.get_layer("top_dropout").rate == 0.2


# Small stand-ins for the layouts whose layers differ most between backends: ResNetV2 (explicit
# pads, 1x1 max-pool shortcuts, zero-padded stem pool) and ResNet-D (deep stem, average-pooled
# shortcuts); odd sizes reach every stride-2 layer ("same" pooling pads one side only there).
TINY = {
    "tiny_v2": {
        "input": {"channels": 3, "size": 37},
        "stem": {"type": "imagenet", "channels": 8, "pool_padding": "zeros"},
        "block": {"type": "bottleneck", "preact": True, "stride_at": "last"},
        "stages": [{"blocks": 2, "channels": 4, "stride": 2}, {"blocks": 2, "channels": 8}],
        "stride_shortcut": "subsample",
        "conv_bias": "unnormalized",
    },
    "tiny_d": {
        "input": {"channels": 3, "size": 36},
        "stem": {"type": "deep", "channels": 8},
        "block": {"type": "bottleneck"},
        "stages": [{"blocks": 1, "channels": 4}, {"blocks": 2, "channels": 8, "stride": 2}],
        "shortcut": "avg_projection",
    },
}

TRAIN_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
import keras
from helpers import GENERATED, build_to_load, generated_factory

folder = sys.argv[1]
expected = np.load(f"{folder}/expected.npz")
for name in ("resnet20_cifar", "tiny_v2", "tiny_d", "preact_stem"):
    where = GENERATED if name == "resnet20_cifar" else Path(folder)
    x = expected[f"{name}_x"]
    factory = generated_factory("keras", name, where)
    model = build_to_load(factory, num_classes=5, input_shape=x.shape[1:])
    model.load_weights(f"{folder}/{name}.weights.h5")
    out = keras.ops.convert_to_numpy(model(x, training=False))
    diff = np.abs(out - expected[f"{name}_y"]).max()
    assert diff < 1e-4, (name, diff)
    print(name, keras.backend.backend(), f"diff {diff:.2e}")
    if name != "resnet20_cifar":
        continue
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_weights]
    history = model.fit(x, np.array([0, 3]), epochs=1, batch_size=2, verbose=0)
    loss = history.history["loss"][0]
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_weights]
    assert np.isfinite(loss), (name, loss)
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, after))
    assert changed == len(before), (name, changed, len(before))
    print(name, keras.backend.backend(), f"loss {loss:.3f}")
"""


@pytest.mark.parametrize(
    "backend",
    [
        "tensorflow",
        "torch",
        pytest.param(
            "jax", marks=pytest.mark.skipif(not installed("jax"), reason="jax is not installed")
        ),
    ],
)
def test_one_training_step_on_each_backend(backend: str, tmp_path: Path) -> None:
    """Weights saved here (TensorFlow) give the same outputs on ``backend`` for option A's
    layer, ResNetV2's and ResNet-D's layers and the -inf stem padding; then one SGD step there
    updates every trainable weight of a network with a custom layer."""
    render_to(tmp_path, NEG_INF_STEM)
    for name, data in TINY.items():
        render_to(tmp_path, {"name": name, "num_classes": 5, **data})
    arrays = {}
    for name in ("resnet20_cifar", "tiny_v2", "tiny_d", "preact_stem"):
        folder = GENERATED if name == "resnet20_cifar" else tmp_path
        size = {"resnet20_cifar": 32, "preact_stem": 33}.get(name) or TINY[name]["input"]["size"]
        model = build_generated("keras", name, folder, num_classes=5, input_shape=(size, size, 3))
        randomize_keras_all(model)
        model.save_weights(tmp_path / f"{name}.weights.h5")
        x = np.random.default_rng(2).standard_normal((2, size, size, 3)).astype("float32")
        arrays[f"{name}_x"] = x
        arrays[f"{name}_y"] = keras.ops.convert_to_numpy(model(x, training=False))
    np.savez(tmp_path / "expected.npz", **arrays)
    result = run_python(TRAIN_SCRIPT, tmp_path, keras_backend=backend)
    assert result.stdout.count(f" {backend} ") == 5, result.stdout
