"""tests/data/timm_resnet_zoo.json (facts written from timm) against truths from elsewhere.

The listing is written by scripts/write_timm_listing.py in the reference environment; nothing here
imports timm. Each check compares it with an independent source: torchvision's own listing and
published figures, timm's model cards on the Hugging Face Hub, the SENet and ECA-Net papers' rules
worked by hand. The last tests hold resgen's shipped specs to the listing.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

import pytest
from helpers import DATA, listing_macs, meta_state_dict, plan_counts_at_224, shipped_specs

LISTING = DATA / "timm_resnet_zoo.json"
TORCHVISION = DATA / "torchvision_state_dicts.json"
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@cache
def listing() -> dict[str, Any]:
    return json.loads(LISTING.read_text(encoding="utf-8"))


def models() -> dict[str, dict[str, Any]]:
    return listing()["models"]


def test_listing_is_timm_1_0_31_zoo_without_the_pruned_variants() -> None:
    assert listing()["timm"] == "1.0.31"
    assert listing()["flop_input"] == [1, 3, 224, 224]
    names = list(models())
    assert len(names) == 79 == len(set(names))
    assert not [name for name in names if name.endswith("_pruned")]
    # The families issue 10 names, each present.
    for name in ("test_resnet", "resnet10t", "senet154", "resnet50_gn", "resnetrs420"):
        assert name in names
    for prefix in ("seresnext", "ecaresnet", "resnetaa", "resnetblur", "resnetrs"):
        assert any(name.startswith(prefix) for name in names), prefix


@pytest.mark.parametrize("name", list(models()))
def test_params_are_the_state_dict_less_its_buffers(name: str) -> None:
    entry = models()[name]
    learned = [shape for key, shape in entry["state_dict"].items() if not key.endswith(BUFFERS)]
    assert sum(math.prod(shape) for shape in learned) == entry["params"]
    assert all(
        shape == [] for key, shape in entry["state_dict"].items() if key.endswith(BUFFERS[2])
    )
    assert entry["input_size"][0] == 3
    assert entry["flops"]["aten.convolution"] > 0
    assert sum(entry["flops"].values()) == sum(entry["flops_by_module"].values())


def test_torchvision_names_have_torchvision_keys_shapes_and_params() -> None:
    """timm keeps torchvision's layout; torchvision's listing was written independently."""
    torchvision = json.loads(TORCHVISION.read_text(encoding="utf-8"))
    assert len(torchvision) == 10
    for name, reference in torchvision.items():
        entry = models()[name]
        assert list(entry["state_dict"].items()) == list(reference["state_dict"].items()), name
        assert entry["params"] == reference["params"], name


# torchvision's weights metadata (num_params, "_ops" = GMACs at 224), as its model pages print it.
TORCHVISION_PUBLISHED = {
    "resnet18": (11_689_512, "1.814"),
    "resnet34": (21_797_672, "3.664"),
    "resnet50": (25_557_032, "4.089"),
    "resnet101": (44_549_160, "7.801"),
    "resnet152": (60_192_808, "11.514"),
    "resnext50_32x4d": (25_028_904, "4.23"),
    "resnext101_32x8d": (88_791_336, "16.414"),
    "resnext101_64x4d": (83_455_272, "15.46"),
    "wide_resnet50_2": (68_883_240, "11.398"),
    "wide_resnet101_2": (126_886_696, "22.753"),
}

# timm's model cards on the Hugging Face Hub, "Params (M)": resnet101.a1h_in1k,
# resnet152.a1h_in1k, resnext50_32x4d.a2_in1k, ecaresnetlight.miil_in1k, resnetblur50.bt_in1k,
# resnetrs50.tf_in1k. Their "GMACs" come from a profiler that counts more than the convolutions
# and the classifier (resnet152: 11.6 there, 11.514 in torchvision's convention), so only the
# parameter counts are compared.
MODEL_CARDS = {
    "resnet101": "44.5",
    "resnet152": "60.2",
    "resnext50_32x4d": "25.0",
    "ecaresnetlight": "30.2",
    "resnetblur50": "25.6",
    "resnetrs50": "35.7",
}


@pytest.mark.parametrize("name", list(TORCHVISION_PUBLISHED))
def test_published_torchvision_figures(name: str) -> None:
    params, gmacs = TORCHVISION_PUBLISHED[name]
    entry = models()[name]
    assert entry["params"] == params
    decimals = len(gmacs.split(".")[1])
    assert f"{listing_macs(entry) / 1e9:.{decimals}f}" == gmacs


@pytest.mark.parametrize("name", list(MODEL_CARDS))
def test_published_timm_model_cards(name: str) -> None:
    assert f"{models()[name]['params'] / 1e6:.1f}" == MODEL_CARDS[name]


def se_width(channels: int, ratio: float) -> int:
    """SENet's hidden width C * r, rounded to the nearest multiple of 8 (never below 8)."""
    return max(8, int(channels * ratio + 4) // 8 * 8)


def se_params(channels: int, ratio: float = 1 / 16) -> int:
    """Two 1x1 convs with bias: C -> hidden -> C."""
    hidden = se_width(channels, ratio)
    return 2 * channels * hidden + hidden + channels


def eca_kernel(channels: int) -> int:
    """ECA-Net's adaptive kernel: |log2(C) + b| / gamma with gamma=2, b=1, made odd (timm: >= 3)."""
    t = int(abs(math.log2(channels) + 1) / 2)
    return max(t if t % 2 else t + 1, 3)


BOTTLENECK_50 = ((3, 256), (4, 512), (6, 1024), (3, 2048))  # (blocks, output channels)
BASIC_18 = ((2, 64), (2, 128), (2, 256), (2, 512))


def test_squeeze_excitation_adds_the_papers_parameters() -> None:
    """SE-ResNet-50 = ResNet-50 + an SE unit (ratio 1/16) per block: 28.1 M in Hu et al."""
    se50 = sum(n * se_params(c) for n, c in BOTTLENECK_50)
    assert models()["seresnet50"]["params"] == models()["resnet50"]["params"] + se50
    assert f"{models()['seresnet50']['params'] / 1e6:.1f}" == "28.1"
    se18 = sum(n * se_params(c) for n, c in BASIC_18)  # 64 / 16 = 4 rounds up to 8
    assert models()["seresnet18"]["params"] == models()["resnet18"]["params"] + se18
    # ResNet-RS uses ratio 1/4 on the ResNet-D layout, with a conv in place of the stem's pool.
    block = models()["resnetrs50"]["state_dict"]["layer1.0.se.fc1.weight"]
    assert block == [se_width(256, 0.25), 256, 1, 1]


def test_eca_adds_one_kernel_per_block() -> None:
    """ECA-ResNet-50-D = ResNet-50-D + a bias-free Conv1d of k(C) taps per block."""
    extra = sum(n * eca_kernel(c) for n, c in BOTTLENECK_50)
    assert [eca_kernel(c) for _, c in BOTTLENECK_50] == [5, 5, 5, 7]
    assert models()["ecaresnet50d"]["params"] == models()["resnet50d"]["params"] + extra
    assert models()["ecaresnet50d"]["state_dict"]["layer4.2.se.conv.weight"] == [1, 1, 7]


def test_parameter_free_variants_keep_resnet50s_count() -> None:
    """Anti-aliasing pools and group norm add no parameters; group norm keeps no statistics."""
    for name in ("resnetaa50", "resnetblur50", "resnet50_gn"):
        assert models()[name]["params"] == 25_557_032, name
    assert not [k for k in models()["resnet50_gn"]["state_dict"] if k.endswith(BUFFERS)]
    assert "BlurPool2d" in models()["resnetblur50"]["flops_by_module"]


def test_stems_and_senet_downsampling_by_hand() -> None:
    sd = models()["resnet10t"]["state_dict"]  # tiered stem 24 / 32 / 64
    assert [sd[f"conv1.{i}.weight"] for i in (0, 3, 6)] == [
        [24, 3, 3, 3],
        [32, 24, 3, 3],
        [64, 32, 3, 3],
    ]
    sd = models()["resnetrs50"]["state_dict"]  # the stem's max pool becomes a strided 3x3 conv
    assert sd["maxpool.0.weight"] == [64, 64, 3, 3]
    sd = models()["senet154"]["state_dict"]
    # Deep stem 64/64/128; the first 1x1 halves the ResNeXt width 64 x 4 (reduce_first 2);
    # shortcuts that stride use a 3x3 conv, the stride-1 one of stage 1 a 1x1.
    assert sd["conv1.6.weight"] == [128, 64, 3, 3]
    assert sd["layer1.0.conv1.weight"] == [128, 128, 1, 1]
    assert sd["layer1.0.conv2.weight"] == [256, 2, 3, 3]
    assert sd["layer1.0.downsample.0.weight"] == [256, 128, 1, 1]
    assert sd["layer2.0.downsample.0.weight"] == [512, 256, 3, 3]


# resgen's shipped specs against the listing (issue 10: every timm-zoo spec, as specs land).


ZOO_SPECS = [name for name in models() if name in shipped_specs()]


def test_every_zoo_architecture_is_shipped() -> None:
    assert list(models()) == ZOO_SPECS


@pytest.mark.parametrize("name", ZOO_SPECS)
def test_summary_params_and_macs_equal_the_listing(name: str) -> None:
    entry = models()[name]
    assert plan_counts_at_224(name) == (entry["params"], listing_macs(entry))


@pytest.mark.parametrize("name", ZOO_SPECS)
def test_generated_torch_state_dict_equals_the_listing(name: str) -> None:
    pytest.importorskip("torch")
    assert meta_state_dict(name) == list(models()[name]["state_dict"].items())
