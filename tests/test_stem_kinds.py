"""Each stem kind (resgen/components/stem/), in the default suite: the spec's ``stem.type``
choices are the registered kinds, and each kind's convs (names, kernels, strides, sizes) and
parameters by hand, against torchvision's conv1/bn1 and timm's deep stem (``conv1.0`` ...
``conv1.6``, then ``bn1``)."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from resgen.components import stem
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec, StemSpec
from resgen.spec.schema import json_schema

# At 224 x 224 and 64 channels: (torch names, keras names, kernel and stride of each conv,
# output size before the pool, parameters with the norms), by hand.
BY_HAND = {
    "imagenet": (
        ["conv1", "bn1"],
        ["conv1_conv", "conv1_bn"],
        [(7, 2)],
        112,
        3 * 64 * 49 + 2 * 64,
    ),
    "cifar": (["conv1", "bn1"], ["conv1_conv", "conv1_bn"], [(3, 1)], 224, 3 * 64 * 9 + 2 * 64),
    "regnet": (["conv1", "bn1"], ["conv1_conv", "conv1_bn"], [(3, 2)], 112, 3 * 64 * 9 + 2 * 64),
    "deep": (
        ["conv1.0", "conv1.1", "conv1.3", "conv1.4", "conv1.6", "bn1"],
        ["conv1_1_conv", "conv1_1_bn", "conv1_2_conv", "conv1_2_bn", "conv1_3_conv", "conv1_bn"],
        [(3, 2), (3, 1), (3, 1)],
        112,
        9 * (3 * 32 + 32 * 32 + 32 * 64) + 2 * (32 + 32 + 64),
    ),
}


def spec_of(kind: str) -> Spec:
    return Spec.model_validate(
        {
            "name": "stemmed",
            "stem": {"type": kind},
            "block": {"type": "basic"},
            "stages": [{"blocks": 1, "channels": 64}],
        }
    )


def test_the_spec_offers_exactly_the_registered_kinds() -> None:
    choices = typing.get_args(StemSpec.model_fields["type"].annotation)
    assert choices == tuple(module.KIND.type for module in stem.KINDS)
    assert json_schema()["$defs"]["StemSpec"]["properties"]["type"]["enum"] == list(choices)
    assert set(choices) == set(BY_HAND)


@pytest.mark.parametrize("kind", sorted(BY_HAND))
def test_each_kind_by_hand(kind: str) -> None:
    torch_names, keras_names, convs, size, params = BY_HAND[kind]
    found = build_plan(spec_of(kind)).stem
    layers = [layer for pair in found.conv_norms for layer in pair if layer is not None]
    assert [layer.torch_name for layer in layers] == torch_names
    assert [layer.keras_name for layer in layers] == keras_names
    assert [(conv.kernel, conv.stride) for conv in found.convs] == convs
    assert found.conv_out_size == size
    assert sum(layer.params for layer in (*found.convs, *found.norms)) == params
    assert (found.pool is None) == (kind in ("cifar", "regnet"))


def test_the_regnet_dialect_names_the_stem_as_timm_s_regnet() -> None:
    """timm's regnet.py: ``self.stem = ConvNormAct(in_chans, stem_width, 3, stride=2)``, so
    ``stem.conv`` and ``stem.bn``; Keras keeps ``conv1_conv``/``conv1_bn``."""
    spec = spec_of("regnet").model_copy(update={"naming": "regnet"})
    found = build_plan(spec).stem
    assert [(c.torch_name, n.torch_name) for c, n in found.conv_norms] == [("stem.conv", "stem.bn")]
    assert [(c.keras_name, n.keras_name) for c, n in found.conv_norms] == [
        ("conv1_conv", "conv1_bn")
    ]
    assert found.torch_container == "stem" and found.pool is None


def test_the_deep_stem_s_own_rule(tmp_path: Path) -> None:
    from resgen.check.validate import load_planned
    from resgen.errors import SpecError

    path = tmp_path / "odd.yaml"
    path.write_text(
        "name: odd\nstem: {type: deep, channels: 63}\nblock: {type: basic}\n"
        "stages: [{blocks: 1, channels: 64}]\n"
    )
    with pytest.raises(SpecError) as info:
        load_planned(path)
    assert [f"{p.field}: {p.message}" for p in info.value.problems] == [
        "stem.channels: a deep stem halves its width in the first two convs; use an even "
        "number, not 63"
    ]
