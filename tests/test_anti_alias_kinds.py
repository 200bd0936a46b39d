"""Each anti-aliasing kind (resgen/components/anti_alias/), in the default suite: the spec's
``anti_alias`` choices are ``none`` and the registered kinds, and each kind's pool sizes,
rounding and MACs by hand (timm's AvgPool2d(2) and BlurPool2d(filt_size=3, stride=2), reflect
padding 1)."""

from __future__ import annotations

import typing

import pytest

from resgen.components import anti_alias
from resgen.components.layers import AntiAlias
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec
from resgen.spec.schema import json_schema

# (input size, output size, MACs at 8 channels), by hand: a 2x2/2 window without padding
# floors (7 -> 3), the blur's 3x3 window, padded by 1, ceils (7 -> 4) and costs 9 MACs per
# output value and channel; the average pool counts none.
BY_HAND = {
    "avg": {8: (4, 0), 7: (3, 0)},
    "blur": {8: (4, 9 * 8 * 4 * 4), 7: (4, 9 * 8 * 4 * 4)},
}
ROUNDING = {"avg": "down", "blur": "up"}


def test_the_spec_offers_none_and_exactly_the_registered_kinds() -> None:
    choices = typing.get_args(Spec.model_fields["anti_alias"].annotation)
    types = tuple(module.KIND.type for module in anti_alias.KINDS)
    assert choices == ("none", *types)
    assert json_schema()["properties"]["anti_alias"]["enum"] == list(choices)
    assert set(BY_HAND) == set(types) == set(ROUNDING)
    assert anti_alias.kind("none") is None


@pytest.mark.parametrize("word", sorted(BY_HAND))
def test_sizes_rounding_and_macs_by_hand(word: str) -> None:
    kind = anti_alias.kind(word)
    assert kind is not None and kind.rounding == ROUNDING[word]
    for size, (out, macs) in BY_HAND[word].items():
        pool = AntiAlias(kind, "aa", "aa", 8, size)
        assert (pool.out_size, pool.macs, pool.params) == (out, macs, 0)
    kept = AntiAlias(kind, "aa", "aa", 8, 7, stride=1)  # a dilated stage's first block
    assert kept.out_size == 7


def test_only_blur_runs_where_a_dilated_stage_s_dilation_grows() -> None:
    """timm's rule (``use_aa = stride == 2 or first_dilation != dilation``) builds a blur pool
    at stride 1 there; its AvgPool2d path only where the block strides."""
    found = {}
    for word in BY_HAND:
        spec = Spec.model_validate(
            {
                "name": "aa",
                "input": {"size": 64},
                "block": {"type": "bottleneck"},
                "stages": [
                    {"blocks": 1, "channels": 8},
                    {"blocks": 1, "channels": 8, "stride": 2},
                    {"blocks": 1, "channels": 8, "stride": 2},
                    {"blocks": 1, "channels": 8, "stride": 2},
                ],
                "anti_alias": word,
                "output_stride": 16,
            }
        )
        last = build_plan(spec).stages[-1].blocks[0]
        found[word] = None if last.anti_alias is None else last.anti_alias.stride
    assert found == {"avg": None, "blur": 1}
