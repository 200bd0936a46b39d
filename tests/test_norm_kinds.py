"""Each norm kind (resgen/components/norm/), in the default suite: the spec's choices are the
registered kinds, each kind's parameters on one small network against a hand computation, the
PyTorch file's modules and their counts, its Keras twin equal through resgen.weights.transfer, and
the kind's rules where the spec and the plan put them."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from helpers import REPO, generated_factory, render_generated, ruff_clean

from resgen.components import norm
from resgen.plan.planner import build_plan
from resgen.spec.models import NormSpec, Spec
from resgen.spec.schema import json_schema

TYPES = [module.KIND.type for module in norm.KINDS]

# The network: a cifar stem of 16 channels, one basic block of 16, 10 classes. By hand: stem
# conv 3 * 16 * 9, block convs 2 * 16 * 16 * 9, classifier 16 * 10 + 10; three norms over 16
# channels each, of the kind's per-channel weights (batch norm: weight and bias, its running
# statistics are buffers; group norm: weight and bias).
CONVS = 3 * 16 * 9 + 2 * 16 * 16 * 9 + 16 * 10 + 10
BY_HAND = {"batch": CONVS + 3 * 2 * 16, "group": CONVS + 3 * 2 * 16}
TORCH_CLASS = {"batch": "BatchNorm2d", "group": "GroupNorm"}
NORM_FIELDS = {"batch": {}, "group": {"groups": 4}}


def spec_of(kind: str) -> Spec:
    return Spec.model_validate(
        {
            "name": f"norm_{kind}",
            "num_classes": 10,
            "input": {"size": 16},
            "stem": {"type": "cifar", "channels": 16},
            "block": {"type": "basic"},
            "stages": [{"blocks": 1, "channels": 16}],
            "norm": {"type": kind, **NORM_FIELDS[kind]},
        }
    )


def test_the_spec_offers_exactly_the_registered_kinds() -> None:
    choices = typing.get_args(NormSpec.model_fields["type"].annotation)
    assert choices == tuple(TYPES)
    schema = json_schema()
    assert schema["$defs"]["NormSpec"]["properties"]["type"]["enum"] == TYPES
    assert set(BY_HAND) == set(TYPES) == set(TORCH_CLASS)


@pytest.mark.parametrize("kind", TYPES)
def test_params_by_hand(kind: str) -> None:
    plan = build_plan(spec_of(kind))
    assert plan.params == BY_HAND[kind]
    assert [layer.params for layer in plan.norms] == [2 * 16] * 3
    assert {layer.kind for layer in plan.norms} == {norm.kind(kind)}


@pytest.mark.parametrize("kind", TYPES)
def test_the_torch_file_builds_the_kind_and_counts_as_planned(kind: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    spec = spec_of(kind)
    render_generated(spec, tmp_path, ("torch",))
    model = generated_factory("torch", spec.name, tmp_path)()
    found = {
        path: type(module).__name__
        for path, module in model.named_modules()
        if "Norm" in type(module).__name__
    }
    assert found == {layer.torch_name: TORCH_CLASS[kind] for layer in build_plan(spec).norms}
    assert sum(p.numel() for p in model.parameters()) == BY_HAND[kind]


@pytest.mark.parametrize("kind", TYPES)
def test_the_keras_twin_equals_the_torch_file(kind: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = spec_of(kind)
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{spec.name}.py", tmp_path / "keras" / f"{spec.name}.py")
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 16) < 1e-4


@pytest.mark.parametrize(
    ("norm_line", "expected"),
    [
        ("{type: batch, groups: 4}", "norm.groups: only group norm has groups"),
        ("{type: group, groups: 4, momentum: 0.1}", "norm.momentum: group norm keeps no"),
        ("{type: group, groups: 12}", "norm.groups: 12 groups do not divide bn1's 16"),
        ("{type: batch, group_size: 4}", "norm.group_size: only group norm has group_size"),
        ("{type: group, groups: 4, group_size: 4}", "norm.group_size: give groups"),
        (
            "{type: group, group_size: 12}",
            "norm.group_size: bn1's 16 channels are not a multiple of group_size 12",
        ),
    ],
)
def test_each_kind_s_rules_sit_at_its_fields(norm_line: str, expected: str, tmp_path: Path) -> None:
    """Another kind's field is refused at ``norm.<field>`` (the spec's rules), and group norm's
    groups must divide every planned width (the rules on the plan)."""
    from resgen.check.validate import load_planned
    from resgen.errors import SpecError

    path = tmp_path / "n.yaml"
    path.write_text(
        "name: n\nstem: {type: cifar, channels: 16}\nblock: {type: basic}\n"
        f"stages: [{{blocks: 1, channels: 16}}]\nnorm: {norm_line}\n"
    )
    with pytest.raises(SpecError) as info:
        load_planned(path)
    found = [f"{p.field}: {p.message}" for p in info.value.problems]
    assert len(found) == 1 and found[0].startswith(expected), found


def test_every_kind_is_in_the_field_reference() -> None:
    reference = (REPO / "docs" / "spec-reference.md").read_text(encoding="utf-8")
    text = json.dumps(json_schema())
    for module in norm.KINDS:
        assert module.KIND.choice.split(":")[0] in reference
        assert f'"{module.KIND.type}"' in text


# Group norm by group size (timm's GroupNormAct(group_size=...), regnety_040_sgn): a cifar stem
# of 16 channels and stages of 16 and 32; with group_size 4 each norm has its width / 4 groups
# (timm's _num_groups: num_channels // group_size), 4 over 16 channels and 8 over 32.
SIZED_SPEC = {
    "name": "norm_sized",
    "num_classes": 10,
    "input": {"size": 16},
    "stem": {"type": "cifar", "channels": 16},
    "block": {"type": "basic"},
    "stages": [{"blocks": 1, "channels": 16}, {"blocks": 1, "channels": 32, "stride": 2}],
    "norm": {"type": "group", "group_size": 4},
}


def test_group_size_gives_each_norm_its_width_over_the_size(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    spec = Spec.model_validate(SIZED_SPEC)
    assert norm.settings(spec.norm).kind.sized_groups
    render_generated(spec, tmp_path, ("torch",))
    model = generated_factory("torch", spec.name, tmp_path)()
    found = {
        path: (module.num_channels, module.num_groups)
        for path, module in model.named_modules()
        if type(module).__name__ == "GroupNorm"
    }
    assert set(found.values()) == {(16, 4), (32, 8)}
    assert len(found) == len(build_plan(spec).norms)


def test_group_size_s_keras_twin_equals_the_torch_file(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = Spec.model_validate(SIZED_SPEC | {"zero_init_residual": True})
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{spec.name}.py", tmp_path / "keras" / f"{spec.name}.py")
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 16) < 1e-4
