"""tests/data/timm_families.json (facts written from timm) against published figures, and the
shipped specs of timm's neighbouring residual families against the listing.

The listing covers all 87 models of timm 1.0.31's ``resnest``, ``res2net``, ``sknet``,
``resnetv2``, ``regnet`` and ``senet`` modules (issue 20); scripts/write_timm_listing.py writes it
in the reference environment, and nothing here imports timm. The first tests hold the listing to
the papers' own tables; the last hold every shipped spec that the listing names to timm's keys,
shapes, parameters and multiply-adds, as tests/test_timm_listing.py does for the ResNet zoo.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

import pytest
from helpers import (
    DATA,
    family_models,
    listing_macs,
    meta_state_dict,
    plan_counts_at_224,
    shipped_specs,
)

LISTING = DATA / "timm_families.json"
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
MODULES = {"resnest": 8, "res2net": 9, "sknet": 5, "resnetv2": 20, "regnet": 36, "senet": 9}


@cache
def listing() -> dict[str, Any]:
    return json.loads(LISTING.read_text(encoding="utf-8"))


def models() -> dict[str, dict[str, Any]]:
    return family_models()


def test_listing_is_timm_1_0_31s_six_modules() -> None:
    assert listing()["timm"] == "1.0.31"
    assert listing()["flop_input"] == [1, 3, 224, 224]
    counted: dict[str, int] = {}
    for entry in models().values():
        counted[entry["module"]] = counted.get(entry["module"], 0) + 1
    assert counted == MODULES
    assert len(models()) == 87


@pytest.mark.parametrize("name", list(models()))
def test_params_are_the_state_dict_less_its_buffers(name: str) -> None:
    entry = models()[name]
    learned = [shape for key, shape in entry["state_dict"].items() if not key.endswith(BUFFERS)]
    assert sum(math.prod(shape) for shape in learned) == entry["params"]
    assert sum(entry["flops"].values()) == sum(entry["flops_by_module"].values())


# Parameters in millions as the papers print them: ResNeSt (Zhang et al. 2020, table 3: 27.5 M);
# Res2Net (Gao et al. 2019, table 6: 25.06 / 25.70 / 37.05 / 48.40 / 25.29 M); SKNet (Li et al.
# 2019, table 2: SKNet-50 on ResNeXt-50 32x4d, 27.5 M); SENet (Hu et al. 2018, table 2: 28.1,
# 49.3, 66.8, 27.6, 49.0 M); RegNet (Radosavovic et al. 2020, appendix tables / pycls model zoo).
PUBLISHED = {
    "resnest50d": "27.5",
    "res2net50_14w_8s": "25.06",
    "res2net50_26w_4s": "25.70",
    "res2net50_26w_6s": "37.05",
    "res2net50_26w_8s": "48.40",
    "res2net50_48w_2s": "25.29",
    "skresnext50_32x4d": "27.5",
    "legacy_seresnet50": "28.1",
    "legacy_seresnet101": "49.3",
    "legacy_seresnet152": "66.8",
    "legacy_seresnext50_32x4d": "27.6",
    "legacy_seresnext101_32x4d": "49.0",
    "regnetx_002": "2.7",
    "regnetx_004": "5.2",
    "regnetx_006": "6.2",
    "regnetx_008": "7.3",
    "regnetx_016": "9.2",
    "regnetx_032": "15.3",
    "regnetx_040": "22.1",
    "regnetx_064": "26.2",
    "regnetx_080": "39.6",
    "regnetx_120": "46.1",
    "regnetx_160": "54.3",
    "regnetx_320": "107.8",
    "regnety_002": "3.2",
    "regnety_004": "4.3",
    "regnety_006": "6.1",
    "regnety_008": "6.3",
    "regnety_016": "11.2",
    "regnety_032": "19.4",
    "regnety_064": "30.6",
    "regnety_080": "39.2",
    "regnety_120": "51.8",
    "regnety_160": "83.6",
    "regnety_320": "145.0",
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_parameter_counts(name: str) -> None:
    figure = PUBLISHED[name]
    decimals = len(figure.split(".")[1])
    assert f"{models()[name]['params'] / 1e6:.{decimals}f}" == figure


def test_legacy_senet_keeps_the_caffe_names() -> None:
    """timm's legacy SENet keeps the Caffe-era layout: ``layer0`` stem and ``se_module``."""
    sd = models()["legacy_seresnet50"]["state_dict"]
    assert sd["layer0.conv1.weight"] == [64, 3, 7, 7]
    assert sd["layer1.0.se_module.fc1.weight"] == [16, 256, 1, 1]  # 256 / 16, with bias
    assert "last_linear.weight" in sd


# resgen's shipped specs against the listing, as each family lands.

FAMILY_SPECS = [name for name in models() if name in shipped_specs()]


def test_every_shipped_family_spec_is_in_the_listing() -> None:
    """A spec named like a family model is that model (no near-miss names)."""
    prefixes = ("resnest", "res2ne", "skresne", "resnetv2_", "regnet", "legacy_se")
    named = [name for name in shipped_specs() if name.startswith(prefixes)]
    assert sorted(named) == sorted(FAMILY_SPECS)


@pytest.mark.parametrize("name", FAMILY_SPECS)
def test_summary_params_and_macs_equal_the_listing(name: str) -> None:
    entry = models()[name]
    assert plan_counts_at_224(name) == (entry["params"], listing_macs(entry))


@pytest.mark.parametrize("name", FAMILY_SPECS)
def test_generated_torch_state_dict_equals_the_listing(name: str) -> None:
    pytest.importorskip("torch")
    assert meta_state_dict(name) == list(models()[name]["state_dict"].items())
