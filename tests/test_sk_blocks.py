"""The selective-kernel block kinds (``sk_basic``, ``sk_bottleneck``: timm's sknet module), in
the default suite: timm's five sknet networks counted by hand from the rules of timm's
SelectiveKernel (against timm's listing and resgen's plan), timm's make_divisible worked by
hand for the attention's width (in the plan and in the generated file, which computes it), and
the Keras twins of the knobs no shipped spec uses. tests/test_sk_reference.py (reference)
holds the same knobs to timm itself; tests/test_families_listing.py and
tests/test_families_reference.py hold the five shipped specs to timm's listing and to timm.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import DATA, generated_factory, listing_macs, render_generated, ruff_clean, spec_path

from resgen.check.validate import load_spec
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec

LISTING = json.loads((DATA / "timm_families.json").read_text(encoding="utf-8"))["models"]


def make_divisible(value: float, divisor: int) -> int:
    """timm.layers.make_divisible(value, divisor) (min_value = divisor, round_limit 0.9),
    written out again here from timm's source."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def selective_kernel(cin: int, cout: int, size: int, stride: int, sk: dict[str, Any]) -> tuple:
    """Params and MACs of timm's SelectiveKernel with two 3x3 paths (each a conv without bias
    and a batch norm), a fc_reduce / bn / fc_select attention on the 1 x 1 means, and the map
    size after it."""
    path_in = cin // 2 if sk["split"] else cin
    out = (size - 1) // stride + 1
    conv = 9 * (path_in // sk["groups"]) * cout
    attn = make_divisible(cout * sk["ratio"], sk["divisor"])
    params = 2 * (conv + 2 * cout) + cout * attn + 2 * attn + attn * 2 * cout
    macs = 2 * conv * out * out + cout * attn + attn * 2 * cout
    return params, macs, out


def network(kind: str, layers: list[int], sk: dict[str, Any], **arch: Any) -> tuple[int, int]:
    """Params and MACs of timm's ResNet of SK blocks at 224 px, by hand: the stem (7x7/2 conv,
    or ResNet-D's three 3x3s 32, 32, 64), four stages (64, 128, 256, 512 planes; a 1x1
    projection where the shape changes, after ResNet-D's pool or strided), the classifier."""
    if arch.get("deep"):
        params, macs, size = 0, 0, 224
        for cin, cout, stride in ((3, 32, 2), (32, 32, 1), (32, 64, 1)):
            size = (size - 1) // stride + 1
            params += 9 * cin * cout + 2 * cout
            macs += 9 * cin * cout * size * size
    else:
        params, macs = 49 * 3 * 64 + 128, 49 * 3 * 64 * 112 * 112
    size, cin = 56, 64
    for stage, (blocks, planes) in enumerate(zip(layers, (64, 128, 256, 512), strict=True)):
        for index in range(blocks):
            stride = 2 if stage and not index else 1
            if kind == "basic":
                cout = planes
                p, m, out = selective_kernel(cin, planes, size, stride, sk)
                p, m = p + 9 * planes * cout + 2 * cout, m + 9 * planes * cout * out * out
            else:
                width, cout = planes * arch.get("base_width", 64) // 64 * sk["groups"], planes * 4
                p, m, out = selective_kernel(width, width, size, stride, sk)
                p += cin * width + 2 * width + width * cout + 2 * cout
                m += cin * width * size * size + width * cout * out * out
            if stride != 1 or cin != cout:
                p, m = p + cin * cout + 2 * cout, m + cin * cout * out * out
            params, macs, size, cin = params + p, macs + m, out, cout
    return params + cin * 1000 + 1000, macs + cin * 1000


# timm's model functions (timm/models/sknet.py): block, layers and sk_kwargs.
BASIC_SK = {"split": True, "ratio": 1 / 8, "divisor": 16, "groups": 1}
BOTTLENECK_SK = {"split": True, "ratio": 1 / 16, "divisor": 8, "groups": 1}
NEXT_SK = {"split": False, "ratio": 1 / 16, "divisor": 32, "groups": 32}
TIMM = {
    "skresnet18": ("basic", [2, 2, 2, 2], BASIC_SK, {}),
    "skresnet34": ("basic", [3, 4, 6, 3], BASIC_SK, {}),
    "skresnet50": ("bottleneck", [3, 4, 6, 3], BOTTLENECK_SK, {}),
    "skresnet50d": ("bottleneck", [3, 4, 6, 3], BOTTLENECK_SK, {"deep": True}),
    "skresnext50_32x4d": ("bottleneck", [3, 4, 6, 3], NEXT_SK, {"base_width": 4}),
}


@pytest.mark.parametrize("name", list(TIMM))
def test_timms_sknets_counted_by_hand(name: str) -> None:
    kind, layers, sk, arch = TIMM[name]
    params, macs = network(kind, layers, sk, **arch)
    entry = LISTING[name]
    assert params == entry["params"]
    assert macs == listing_macs(entry)  # FlopCounterMode: 2 FLOPs a MAC
    plan = build_plan(load_spec(spec_path(name)))
    assert (plan.params, plan.macs) == (params, macs)


# (channels, rd_ratio, rd_divisor) -> timm's attention width, worked by hand: the nearest
# multiple of the divisor, halves up, never below it; 640 / 16 = 40 rounds to 32, which loses
# over 10% of 40, so it is one multiple more.
WIDTHS = {
    (64, 1 / 8, 16): 16,  # 8 -> at least 16 (skresnet18's first stage)
    (256, 1 / 8, 16): 32,
    (64, 1 / 16, 8): 8,  # 4 -> at least 8 (skresnet50)
    (1024, 1 / 16, 32): 64,  # skresnext50_32x4d's last stage
    (640, 1 / 16, 32): 64,
    (96, 1 / 16, 8): 8,  # 6 rounds up to 8
}


@pytest.mark.parametrize(("channels", "ratio", "divisor"), list(WIDTHS))
def test_attention_width_is_timms_make_divisible(
    channels: int, ratio: float, divisor: int, tmp_path: Path
) -> None:
    """The plan and the generated PyTorch file (which computes the width itself) agree with
    the hand rule."""
    torch = pytest.importorskip("torch")
    expected = WIDTHS[(channels, ratio, divisor)]
    assert make_divisible(channels * ratio, divisor) == expected
    spec = one_stage({"type": "sk_basic", "rd_ratio": ratio, "rd_divisor": divisor}, channels)
    (found,) = build_plan(spec).blocks
    reduce = next(c for c in found.convs if c.torch_name.endswith("attn.fc_reduce"))
    assert reduce.out_channels == expected
    render_generated(spec, tmp_path, backends=("torch",))
    with torch.device("meta"):
        model = generated_factory("torch", spec.name, tmp_path)()
    assert model.layer1[0].conv1.attn.fc_reduce.out_channels == expected


def one_stage(block: dict[str, Any], channels: int, name: str = "sk_one", **more: Any) -> Spec:
    return Spec.model_validate(
        {
            "name": name,
            "num_classes": 10,
            "input": {"size": 32},
            "stem": {"type": "cifar", "channels": channels},
            "block": block,
            "stages": [{"blocks": 1, "channels": channels}],
            **more,
        }
    )


# Knobs no shipped spec uses, each network with a strided stage: three 3x3 paths of dilation
# 1, 2 and 4 on the whole input (the dilation-4 path strides in Keras by subsampling, then
# dilation 2), SE and stochastic depth on the branch, a narrower SK conv (reduce_first); and
# 3x3 and 5x5 paths (keep_3x3 false) in 4 groups, output_stride 16, zero-init last norms.
KNOBS = {
    "sk_knobs_basic": {
        "block": {
            "type": "sk_basic",
            "kernel_size": [3, 5, 9],
            "split_input": False,
            "attention": {"type": "se"},
            "reduce_first": 2,
        },
        "drop_path_rate": 0.1,
    },
    "sk_knobs_bottleneck": {
        "block": {
            "type": "sk_bottleneck",
            "kernel_size": [3, 5],
            "keep_3x3": False,
            "groups": 4,
            "width_per_group": 8,
        },
        "output_stride": 16,
        "zero_init_residual": True,
    },
}


def knobs_spec(name: str) -> Spec:
    """Four stages of one block (64 to 512 channels, strides 1, 2, 2, 2) at 64 px, as
    timm's ResNet(layers=[1, 1, 1, 1]) builds them."""
    stages = [{"blocks": 1, "channels": c, "stride": 1 if c == 64 else 2} for c in (64, 128)]
    stages += [{"blocks": 1, "channels": c, "stride": 2} for c in (256, 512)]
    return Spec.model_validate(
        {"name": name, "num_classes": 10, "input": {"size": 64}, "stages": stages, **KNOBS[name]}
    )


@pytest.mark.parametrize("name", list(KNOBS))
def test_keras_twin_of_the_unshipped_knobs(name: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = knobs_spec(name)
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{name}.py", tmp_path / "keras" / f"{name}.py")
    torch_factory = generated_factory("torch", name, tmp_path)
    keras_factory = generated_factory("keras", name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 64, stateless=True) < 1e-4


def test_convert_taps_the_stem_output_where_the_first_layer_reads_a_split(tmp_path: Path) -> None:
    """resgen convert compares the two models at the stem's output too: with split_input the
    first block's first Keras layer reads half of it, not all of it."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from resgen.weights.convert import keras_taps, torch_taps

    spec = one_stage({"type": "sk_basic"}, 16, name="sk_taps")
    render_generated(spec, tmp_path)
    plan = build_plan(spec)
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    torch_model = generated_factory("torch", spec.name, tmp_path)()
    keras_model = generated_factory("keras", spec.name, tmp_path)()
    ours = [a.shape for a in keras_taps(keras_model, plan, x)]
    assert ours == [a.shape for a in torch_taps(torch_model, plan, x)]
    assert ours[0] == (1, 16, 32, 32)
