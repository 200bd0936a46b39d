"""Each stem pool kind (resgen/components/stem_pool/), in the default suite: the spec's
``stem.pool`` choices are the words the registered kinds name, ``stem.pool`` and
``anti_alias`` pick the kind timm builds, and each kind's layers, sizes and counts by hand on a
64-wide stem's 112 x 112 map (resnet50's stem at 224)."""

from __future__ import annotations

import typing

import pytest

from resgen.components import stem_pool
from resgen.plan.network import NetworkPlan
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec, StemSpec
from resgen.spec.schema import json_schema

# What timm builds after the stem's convs (timm/models/resnet.py, ResNet.__init__), by
# replace_stem_pool and aa_layer.
PICKED = {
    ("max", "none"): "max",  # nn.MaxPool2d(3, 2, 1)
    ("max", "avg"): "avg",  # aa_layer(channels, stride=2): nn.AvgPool2d(2)
    ("max", "blur"): "blur",  # nn.Sequential(MaxPool2d(3, 1, 1), BlurPool2d(channels))
    ("conv", "none"): "conv",  # nn.Sequential(conv 3x3/2, norm, act)
    ("conv", "avg"): "conv",  # nn.Sequential(conv 3x3/1, aa, norm, act)
    ("conv", "blur"): "conv",
}

# (params, MACs, output size) at 64 channels on 112 x 112, by hand: pools have no weights; the
# blur pool's 3x3 depthwise filter counts 9 MACs per output value and channel; the conv pool
# is a bias-free 3x3 conv 64 -> 64 and a norm's 2 x 64.
BY_HAND = {
    ("max", "none"): (0, 0, 56),
    ("max", "avg"): (0, 0, 56),
    ("max", "blur"): (0, 9 * 64 * 56 * 56, 56),
    ("conv", "none"): (9 * 64 * 64 + 128, 9 * 64 * 64 * 56 * 56, 56),
    ("conv", "avg"): (9 * 64 * 64 + 128, 9 * 64 * 64 * 112 * 112, 56),
    ("conv", "blur"): (9 * 64 * 64 + 128, 9 * 64 * 64 * 112 * 112 + 9 * 64 * 56 * 56, 56),
}


def test_the_spec_offers_exactly_the_words_of_the_registered_kinds() -> None:
    choices = typing.get_args(StemSpec.model_fields["pool"].annotation)
    words = tuple(dict.fromkeys(m.KIND.word for m in stem_pool.KINDS))
    assert choices == words == ("max", "conv")
    schema = json_schema()
    assert schema["$defs"]["StemSpec"]["properties"]["pool"]["enum"] == list(words)
    assert {m.KIND.type for m in stem_pool.KINDS} == set(PICKED.values())


@pytest.mark.parametrize(("pool", "anti_alias"), sorted(PICKED))
def test_each_kind_by_hand(pool: str, anti_alias: str) -> None:
    spec = Spec.model_validate(
        {
            "name": "pooled",
            "stem": {"pool": pool},
            "anti_alias": anti_alias,
            "block": {"type": "bottleneck"},
            "stages": [{"blocks": 1, "channels": 64}],
        }
    )
    plan = build_plan(spec)
    found = plan.stem.pool
    assert found is not None and found.kind.type == PICKED[(pool, anti_alias)]
    assert (found.params, found.macs, found.out_size) == BY_HAND[(pool, anti_alias)]
    assert plan.stem.out_size == 56 and plan.stem.stride == 4


def test_the_cifar_stem_has_none() -> None:
    spec = Spec.model_validate(
        {
            "name": "cifar",
            "stem": {"type": "cifar", "channels": 16},
            "block": {"type": "basic"},
            "stages": [{"blocks": 1, "channels": 16}],
        }
    )
    assert build_plan(spec).stem.pool is None


def test_every_spec_choice_picks_one_kind() -> None:
    """Whatever ``stem.pool`` and ``anti_alias`` a spec writes, exactly one kind is picked."""
    pools = typing.get_args(StemSpec.model_fields["pool"].annotation)
    anti_aliases = typing.get_args(Spec.model_fields["anti_alias"].annotation)
    for pool in pools:
        for anti_alias in anti_aliases:
            picked = [
                m
                for m in stem_pool.KINDS
                if m.KIND.word == pool
                and (m.KIND.anti_alias is None or anti_alias in m.KIND.anti_alias)
            ]
            assert len(picked) == 1, (pool, anti_alias)
            assert stem_pool.pick(pool, anti_alias) is picked[0]


@pytest.mark.parametrize(("size", "ignore", "ceil"), [(224, 56, 56), (226, 57, 56), (230, 58, 57)])
def test_the_ceil_max_pool_by_hand(size: int, ignore: int, ceil: int) -> None:
    """PyTorch's MaxPool2d(3, 2, padding=1) gives floor((n + 2 - 3) / 2) + 1 and, with
    ceil_mode and no padding, ceil((n - 3) / 2) + 1: on the 7x7/2 conv's 113 (226 px) that is
    57 against 56 (an odd size halves down); legacy SENet's dialect names it ``pool0``."""

    def plan(padding: str, naming: str) -> NetworkPlan:
        spec = Spec.model_validate(
            {
                "name": "pooled",
                "input": {"size": size},
                "stem": {"pool_padding": padding},
                "naming": naming,
                "block": {"type": "bottleneck"},
                "stages": [{"blocks": 1, "channels": 64}],
            }
        )
        return build_plan(spec)

    assert plan("ignore", "timm").stem.out_size == ignore
    ceiled = plan("ceil", "legacy_senet")
    assert ceiled.stem.out_size == ceil and ceiled.stem.pool is not None
    assert ceiled.stem.pool.ceil and ceiled.stem.pool.torch_name == "pool0"
    assert ceiled.stem.pool.rounding == "down"
