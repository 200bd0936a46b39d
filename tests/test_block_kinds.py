"""Each block kind (resgen/components/block/), in the default suite: the registry is the only
list of kinds (the spec's union, the stage's ``block_type``, the validator's tagged models and
the templates all derive from it), each kind's branch counted by hand, one PyTorch path naming
one Keras layer, and each kind's Keras twin equal to its PyTorch file through
resgen.weights.transfer. timm's and torchvision's whole networks are the reference in
tests/test_timm_listing.py and tests/test_reference_outputs.py.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from helpers import REPO, generated_factory, render_generated, ruff_clean

from resgen.check import validate
from resgen.components import block
from resgen.components.naming import block_names
from resgen.plan.planner import build_plan
from resgen.rendering.render import templates_dir
from resgen.spec.models import RESERVED_NAMES, Spec, StageSpec
from resgen.spec.schema import json_schema

TYPES = [kind.KIND.type for kind in block.KINDS]
TEMPLATES = [(kind.KIND.type, t) for kind in block.KINDS for t in kind.KIND.templates()]

# One block on an 8 x 8 map at stride 1 with an identity shortcut (a basic block of 16
# channels; a bottleneck of 16 whose input and output are 64), by hand: (parameters, MACs) of
# its branch. A k x k conv from a to b channels in g groups has k k a b / g weights and as many
# MACs per pixel; a batch norm of c channels 2 c parameters. Pre-activation moves one norm to
# the front (the input's width) and drops the last conv's.
BY_HAND: dict[tuple[str, bool], tuple[dict[str, object], int, int]] = {
    # two 3x3 16 -> 16 and two norms of 16: 2 * 2304 + 2 * 32; 2 * 2304 MACs a pixel.
    ("basic", False): ({"type": "basic"}, 2 * 2304 + 2 * 32, 2 * 2304 * 64),
    # preact_bn(16), 3x3, bn1(16), 3x3.
    ("basic", True): ({"type": "basic", "preact": True}, 32 + 2304 + 32 + 2304, 2 * 2304 * 64),
    # 1x1 64 -> 16, 3x3 16 -> 16, 1x1 16 -> 64; norms of 16, 16 and 64.
    ("bottleneck", False): (
        {"type": "bottleneck"},
        1024 + 2304 + 1024 + 32 + 32 + 128,
        (1024 + 2304 + 1024) * 64,
    ),
    # preact_bn(64), then the three convs with the first two norms.
    ("bottleneck", True): (
        {"type": "bottleneck", "preact": True},
        128 + 1024 + 32 + 2304 + 32 + 1024,
        (1024 + 2304 + 1024) * 64,
    ),
    # ResNeSt (radix 2): 1x1 64 -> 16; the split 3x3 16 -> 32 in 2 groups (9 * 8 * 32 = 2304)
    # and its norm of 32; the attention's hidden width max(32, make_divisible(32 / 4, 8)) = 32:
    # 1x1s 16 -> 32 and 32 -> 32 with biases on the pooled 1 x 1 map, a norm of 32 between;
    # 1x1 16 -> 64; norms of 16 and 64. No avd pool at stride 1.
    ("resnest", False): (
        {"type": "resnest"},
        1024 + 32 + 2304 + 64 + (16 * 32 + 32) + 64 + (32 * 32 + 32) + 1024 + 128,
        (1024 + 2304 + 1024) * 64 + 16 * 32 + 32 * 32,
    ),
    # Res2Net 26w x 4s (Gao et al. 2019): groups of floor(16 * 26 / 64) = 6; 1x1 64 -> 4 * 6,
    # three 3x3 6 -> 6 (the fourth group has none), 1x1 24 -> 64; norms of 24, 3 x 6 and 64.
    ("res2net", False): (
        {"type": "res2net"},
        1536 + 3 * 324 + 1536 + 48 + 3 * 12 + 128,
        (1536 + 3 * 324 + 1536) * 64,
    ),
    # timm's SelectiveKernelBasic, default sk_kwargs (kernel_size [3, 5] as a 3x3 and a 3x3 of
    # dilation 2, split_input, rd_ratio 1/16, rd_divisor 8): two paths 3x3 8 -> 16 (each reads
    # half the input) with norms of 16; attention width make_divisible(16 / 16, 8) = 8: 1x1
    # 16 -> 8, norm of 8, 1x1 8 -> 32 (on the 1 x 1 means: 128 + 256 MACs); conv2 3x3 16 -> 16
    # and its norm.
    ("sk_basic", False): (
        {"type": "sk_basic"},
        2 * (1152 + 32) + (128 + 16 + 256) + 2304 + 32,
        2 * 1152 * 64 + 128 + 256 + 2304 * 64,
    ),
    # timm's SelectiveKernelBottleneck: conv1 1x1 64 -> 16, the selective-kernel conv 16 -> 16
    # as above, conv3 1x1 16 -> 64; norms of 16 and 64.
    ("sk_bottleneck", False): (
        {"type": "sk_bottleneck"},
        1024 + 32 + 2 * (1152 + 32) + (128 + 16 + 256) + 1024 + 128,
        1024 * 64 + 2 * 1152 * 64 + 128 + 256 + 1024 * 64,
    ),
    # RegNet-Y's bottleneck of 16 (ratio 1, input 16): 1x1 16 -> 16, 3x3 in 16 / 8 = 2 groups
    # (9 * 8 * 16 = 1152), SE after it of round(16 * 0.25) = 4 hidden (16 * 4 + 4 and 4 * 16 +
    # 16, with biases; one pixel each), 1x1 16 -> 16; three norms of 16.
    ("regnet", False): (
        {"type": "regnet", "group_width": 8, "se_ratio": 0.25},
        256 + 32 + 1152 + 32 + 68 + 80 + 256 + 32,
        (256 + 1152 + 256) * 64 + 64 + 64,
    ),
    # Its pre-activation variant (timm's PreBottleneck): the same convs and SE, each conv after
    # a norm of its input's 16 (norm1 on the block's input, norm2, norm3 before the 1x1).
    ("regnet", True): (
        {"type": "regnet", "group_width": 8, "se_ratio": 0.25, "preact": True},
        32 + 256 + 32 + 1152 + 68 + 80 + 32 + 256,
        (256 + 1152 + 256) * 64 + 64 + 64,
    ),
}

# ResNeXt's grouped bottleneck: width int(16 * 8 / 64) * 4 = 8; 1x1 64 -> 8, 3x3 8 -> 8 in 4
# groups (9 * 8 * 8 / 4 = 144), 1x1 8 -> 64; norms of 8, 8 and 64.
GROUPED = (
    {"type": "bottleneck", "groups": 4, "width_per_group": 8},
    512 + 144 + 512 + 16 + 16 + 128,
    (512 + 144 + 512) * 64,
)


def one_block(block_spec: dict[str, object], name: str = "counted") -> Spec:
    """One block of 16 channels on an 8 x 8 map, its input as wide as its output (a cifar
    stem of that width: an identity shortcut)."""
    model = block.SPECS[str(block_spec["type"])].model_validate(block_spec)
    out = block.widths(model.type, block.knobs(model, model.type), 16, 1)[2]
    return Spec.model_validate(
        {
            "name": name,
            "num_classes": 5,
            "input": {"size": 8},
            "stem": {"type": "cifar", "channels": out},
            "block": block_spec,
            "stages": [{"blocks": 1, "channels": 16}],
        }
    )


def test_the_spec_union_is_the_registered_kinds() -> None:
    """Registering a kind is the only way into the spec: the union, the stage's block_type,
    the validator's tagged models and the reserved names all derive from the registry."""
    members = set(typing.get_args(Spec.model_fields["block"].annotation))
    assert members == {kind.Spec for kind in block.KINDS}
    assert set(block.SPECS) == set(TYPES) and len(TYPES) == len(block.KINDS)
    for kind in block.KINDS:
        assert typing.get_args(kind.Spec.model_fields["type"].annotation) == (kind.KIND.type,)
    block_type = StageSpec.model_fields["block_type"].annotation
    assert set(typing.get_args(typing.get_args(block_type)[0])) == set(TYPES)
    assert validate._TAGGED[("block",)][1] is block.SPECS
    assert block.DEFINES <= RESERVED_NAMES


@pytest.mark.parametrize("kind", TYPES)
def test_every_kind_is_in_the_schema_the_reference_and_the_templates(kind: str) -> None:
    assert f'"const": "{kind}"' in json.dumps(json_schema())
    reference = (REPO / "docs" / "spec-reference.md").read_text(encoding="utf-8")
    assert f"## block, type: {kind}\n" in reference
    for name in block.kind(kind).templates():
        for backend in ("torch", "keras"):
            assert (templates_dir() / backend / "blocks" / f"{name}.py.j2").is_file()


def test_every_kind_and_variant_is_counted_by_hand() -> None:
    assert set(BY_HAND) == {
        (kind.KIND.type, preact)
        for kind in block.KINDS
        for preact in (False, True)
        if not preact or kind.KIND.preact_template
    }


@pytest.mark.parametrize("case", [*BY_HAND, "grouped"], ids=str)
def test_branch_params_and_macs_by_hand(case: tuple[str, bool] | str) -> None:
    block_spec, params, macs = GROUPED if case == "grouped" else BY_HAND[case]
    plan = build_plan(one_block(block_spec))
    (found,) = plan.blocks
    assert found.shortcut == "identity" and not found.shortcut_convs
    assert (found.branch.params, found.branch.macs) == (params, macs)
    assert (found.params, found.macs) == (params, macs)  # nothing else in the block


def test_one_pytorch_path_names_one_keras_layer() -> None:
    """resgen.weights.transfer pairs weights by PyTorch path alone, over every kind's layers."""
    names: dict[tuple[str, str], str] = {}
    for layer, torch_name, keras_name in block.weights(block_names(1, 0)):
        assert names.setdefault((layer, torch_name), keras_name) == keras_name
    assert len(set(names.values())) == len(names)


def test_a_stage_of_another_kind_takes_that_kinds_defaults() -> None:
    """timm's test_resnet mixes kinds: a bottleneck stage under basic blocks is torchvision's
    Bottleneck (1x1 64 -> 16, 3x3, 1x1 16 -> 64 at expansion 4)."""
    spec = one_block({"type": "basic"}).model_copy(
        update={"stages": [StageSpec(blocks=1, channels=16, block_type="bottleneck")]}
    )
    (found,) = build_plan(spec).blocks
    assert found.kind == "bottleneck" and found.out_channels == 64


@pytest.mark.parametrize(("kind", "template"), TEMPLATES)
def test_files_are_ruff_clean_and_the_keras_twin_equals_the_torch_file(
    kind: str, template: str, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    preact = template != block.kind(kind).template
    spec = one_block({"type": kind, "preact": preact}, name=f"block_{template}")
    spec = spec.model_copy(
        update={"stages": [*spec.stages, StageSpec(blocks=1, channels=32, stride=2)]}
    )
    assert build_plan(spec).block_class.template == template
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{spec.name}.py", tmp_path / "keras" / f"{spec.name}.py")
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 8) < 1e-4


def test_a_kind_without_a_pre_activation_variant_refuses_preact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """timm's ResNeSt, Res2Net and SK blocks have none: the registry's rule refuses the flag
    at ``block.preact`` for such a kind (here basic, its variant taken away)."""
    import dataclasses

    from resgen.components.block import basic

    spec = one_block({"type": "basic", "preact": True})
    assert block.check(spec) == []
    monkeypatch.setattr(basic, "KIND", dataclasses.replace(basic.KIND, preact_template=None))
    assert block.check(spec) == [
        (("block", "preact"), "basic blocks have no pre-activation variant; set it to false")
    ]
