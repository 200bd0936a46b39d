"""The ResNeSt block kind (resgen/components/block/resnest.py), in the default suite: the
split attention's hidden width by hand from timm's rule, and the Keras twin of each variant the
shipped specs do not all share (timm's ablation shapes, radix 1, avd off, no groups at all)
equal to its PyTorch file through resgen.weights.transfer, at any map size and through a .keras
file. timm itself is the reference in tests/test_resnest_reference.py and
tests/test_families_reference.py; tests/test_families_listing.py holds the 8 shipped specs to
timm's keys, shapes, parameters and MACs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import generated_factory, render_generated, ruff_clean

from resgen.components.block.resnest import attention_width
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec

# timm's SplitAttn: make_divisible(in_channels * radix * 0.25, 8, min_value=32), the 3x3's
# outputs (radix x width) given here. resnest50d's stages (radix 2, widths 64 ... 512): 32,
# 64, 128, 256 (its listed fc1 weights: [32, 64, 1, 1] ... [256, 512, 1, 1]); 4s2x40d's first
# stage (radix 4, width 80): 320 / 4 = 80; 1s4x24d's (radix 1, width 96): 24, raised to 32.
WIDTHS = {128: 32, 256: 64, 512: 128, 1024: 256, 320: 80, 96: 32, 100: 32, 180: 48}

VARIANTS = {
    "ablation_4s2x40d": {"radix": 4, "groups": 2, "width_per_group": 40, "avd_first": True},
    "ablation_1s4x24d": {"radix": 1, "groups": 4, "width_per_group": 24, "avd_first": True},
    "avd_off": {"avd": False},
    "radix_1_ungrouped": {"radix": 1},
}


def test_attention_width_by_hand() -> None:
    assert {channels: attention_width(channels) for channels in WIDTHS} == WIDTHS


def spec_of(variant: str, size: int = 16) -> Spec:
    """A cifar stem of 64 and two stages of 32 and 64 channels (outputs 128 and 256), the second
    strided: the avd pool (or the strided split conv) runs once."""
    return Spec.model_validate(
        {
            "name": f"resnest_{variant}",
            "num_classes": 5,
            "input": {"size": size},
            "stem": {"type": "cifar", "channels": 64},
            "block": {"type": "resnest", **VARIANTS[variant]},
            "stages": [{"blocks": 1, "channels": 32}, {"blocks": 1, "channels": 64, "stride": 2}],
            "shortcut": "avg_projection",
            "zero_init_residual": True,
        }
    )


def test_the_strided_conv_or_the_pool_takes_the_stride() -> None:
    """avd: the split conv runs at stride 1 and the map halves in the pool; without avd the
    split conv strides."""
    for variant, split_stride in (("ablation_4s2x40d", 1), ("avd_off", 2)):
        second = build_plan(spec_of(variant)).blocks[1]
        split = next(c for c in second.branch.convs if c.torch_name.endswith("conv2.conv"))
        assert split.stride == split_stride, variant
        assert (second.in_size, second.out_size) == (16, 8)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_keras_twin_equals_the_torch_file(variant: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = spec_of(variant)
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{spec.name}.py", tmp_path / "keras" / f"{spec.name}.py")
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 16) < 1e-4


def test_a_resnest_stage_among_bottlenecks(tmp_path: Path) -> None:
    """Stages may mix kinds: a resnest stage (2 x 2 groups in its split conv) in a bottleneck
    network (no GROUPS constant of its own width) builds its own groups and equals its twin."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = Spec.model_validate(
        {
            "name": "resnest_mixed",
            "num_classes": 5,
            "input": {"size": 16},
            "stem": {"type": "cifar", "channels": 64},
            "block": {"type": "bottleneck"},
            "stages": [
                {"blocks": 1, "channels": 16},
                {"blocks": 1, "channels": 32, "stride": 2, "block_type": "resnest"},
            ],
        }
    )
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{spec.name}.py", tmp_path / "keras" / f"{spec.name}.py")
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 16) < 1e-4


def test_keras_layers_take_any_map_size_and_save(tmp_path: Path) -> None:
    """keras.applications' convention: without the top, height and width stay open; the split
    attention's layers (RadixSum, RadixSoftmax) run on a non-square map and reload from a
    .keras file with equal outputs."""
    np = pytest.importorskip("numpy")
    keras = pytest.importorskip("keras")
    spec = spec_of("ablation_4s2x40d")
    render_generated(spec, tmp_path, ("keras",))
    factory = generated_factory("keras", spec.name, tmp_path)
    model = factory(include_top=False, input_shape=(None, None, 3))
    x = np.random.default_rng(0).random((1, 16, 20, 3), dtype=np.float32)
    out = np.asarray(model(x))
    assert out.shape == (1, 8, 10, 256)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), out, atol=1e-6)
