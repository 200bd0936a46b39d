"""The res2net block kind (timm's Bottle2neck) beyond what tests/test_block_kinds.py checks for
every kind: its width rule worked by hand, its knobs together in one small network whose Keras
twin equals its PyTorch file through resgen.weights.transfer, and the Keras layer that splits the
channels (registered, exact, saved and loaded). timm itself is the reference in
tests/test_families_reference.py (the nine shipped specs) and tests/test_res2net_reference.py
(dilated and feature-map forms).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import generated_factory, generated_module, render_generated, ruff_clean, spec_path

from resgen.check.validate import load_spec
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# Every knob at once on a small network: Res2NeXt (3x3s in 2 groups), 3 groups of channels of
# floor(16 * 20 / 64) * 2 = 10, ResNet-D's deep stem and pooled shortcuts, SE, stochastic depth,
# SiLU; a second stage that strides (the groups side by side, the last one pooled).
KNOBS = {
    "name": "res2net_knobs",
    "num_classes": 7,
    "input": {"size": 32},
    "stem": {"type": "deep", "channels": 16},
    "block": {
        "type": "res2net",
        "scale": 3,
        "base_width": 20,
        "cardinality": 2,
        "attention": {"type": "se"},
    },
    "stages": [
        {"blocks": 2, "channels": 16},
        {"blocks": 2, "channels": 32, "stride": 2},
    ],
    "shortcut": "avg_projection",
    "activation": "silu",
    "drop_path_rate": 0.1,
    "zero_init_residual": True,
}


# The rest, on another small network: 5 groups of floor(16 * 32 / 64) = 8 on a cifar stem, group
# norm, ECA, GELU (tanh), a projection on every block, the stride on each stage's last block.
OTHER_KNOBS = {
    "name": "res2net_other_knobs",
    "num_classes": 5,
    "input": {"size": 16},
    "stem": {"type": "cifar", "channels": 16},
    "block": {
        "type": "res2net",
        "scale": 5,
        "base_width": 32,
        "stride_at": "last",
        "attention": {"type": "eca"},
    },
    "stages": [
        {"blocks": 1, "channels": 16},
        {"blocks": 2, "channels": 16, "stride": 2},
    ],
    "shortcut": "always_projection",
    "norm": {"type": "group", "groups": 4},
    "activation": "gelu_tanh",
    "dropout": 0.25,
}


def test_widths_by_hand() -> None:
    """Gao et al.'s w x s at 64 channels, scaled with the stage as timm does: each group is
    floor(planes * base_width / 64) * cardinality wide, the first 1x1 outputs scale groups of
    it, the last 1x1 planes * 4."""
    cases = {
        # name: per stage, (first 1x1's output, group width, output)
        "res2net50_26w_4s": [(104, 26, 256), (208, 52, 512), (416, 104, 1024), (832, 208, 2048)],
        "res2net50_14w_8s": [(112, 14, 256), (224, 28, 512), (448, 56, 1024), (896, 112, 2048)],
        "res2net50_48w_2s": [(96, 48, 256), (192, 96, 512), (384, 192, 1024), (768, 384, 2048)],
        # Res2NeXt-50: floor(64 * 4 / 64) = 4, times 8 groups: 32 a group.
        "res2next50": [(128, 32, 256), (256, 64, 512), (512, 128, 1024), (1024, 256, 2048)],
    }
    for name, expected in cases.items():
        plan = build_plan(load_spec(spec_path(name)))
        found = []
        for stage in plan.stages:
            block = stage.blocks[0]
            found.append((block.first_width, block.width, block.out_channels))
            # scale - 1 3x3s, each width -> width in cardinality groups
            scale = block.first_width // block.width
            threes = [conv for conv in block.convs if conv.kernel == 3]
            assert len(threes) == scale - 1, name
            assert {(c.in_channels, c.out_channels) for c in threes} == {(block.width,) * 2}
        assert found == expected, name


def test_params_by_hand() -> None:
    """The small network's parameters, counted from its layer list by hand."""
    w = 20 * 16 // 64 * 2  # 10 per group
    stem = 3 * 8 * 9 + 8 * 8 * 9 + 8 * 16 * 9 + 2 * (8 + 8 + 16)

    def block(cin: int, w: int, out: int, project: bool) -> int:
        convs = cin * 3 * w + 2 * (9 * w * w // 2) + 3 * w * out
        norms = 2 * (3 * w + 2 * w + out)
        se = 2 * out * 8 + 8 + out  # SE's hidden width: make_divisible(out / 16, 8) = 8 here
        return convs + norms + se + (cin * out + 2 * out if project else 0)

    w2 = 20 * 32 // 64 * 2
    total = stem + block(16, w, 64, True) + block(64, w, 64, False)
    total += block(64, w2, 128, True) + block(128, w2, 128, False)
    total += 128 * 7 + 7
    assert build_plan(Spec.model_validate(KNOBS)).params == total


@pytest.mark.parametrize("data", [KNOBS, OTHER_KNOBS], ids=lambda data: data["name"])
def test_every_knob_keras_twin_equals_torch(data: dict, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = Spec.model_validate(data)
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{spec.name}.py", tmp_path / "keras" / f"{spec.name}.py")
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    size = spec.input.size
    assert check_round_trip(torch_factory, keras_factory, spec, size) < 1e-4
    assert check_round_trip(torch_factory, keras_factory, spec, size - 5) < 1e-4  # odd maps


def test_split_channels_is_registered_exact_and_saved(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    np = pytest.importorskip("numpy")
    from checkpoints import randomize_keras_all

    module = generated_module("keras", "res2net50_26w_4s")
    layer = module.SplitChannels(3, name="split")
    assert keras.saving.get_registered_name(type(layer)) == "resgen>SplitChannels"
    assert layer.get_config()["parts"] == 3
    x = np.arange(2 * 2 * 3 * 6, dtype="float32").reshape(2, 2, 3, 6)
    parts = [keras.ops.convert_to_numpy(part) for part in layer(x)]
    for i, part in enumerate(parts):
        np.testing.assert_array_equal(part, x[..., 2 * i : 2 * i + 2])

    spec = Spec.model_validate(KNOBS)
    render_generated(spec, tmp_path, ("keras",))
    model = generated_factory("keras", spec.name, tmp_path)(input_shape=(32, 32, 3))
    randomize_keras_all(model)
    path = tmp_path / "res2net.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
    )
