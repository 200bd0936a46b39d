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
# statistics are buffers; group norm: weight and bias; EvoNorm-S0: weight, bias and v; FRN:
# weight, bias and tau). A norm with its own nonlinearity takes the pre-activation block
# (norm, conv, norm, conv) and the final norm: three norms again, the stem conv bare.
CONVS = 3 * 16 * 9 + 2 * 16 * 16 * 9 + 16 * 10 + 10
PER_CHANNEL = {"batch": 2, "group": 2, "evonorm_s0": 3, "frn": 3}
BY_HAND = {kind: CONVS + 3 * per_channel * 16 for kind, per_channel in PER_CHANNEL.items()}
TORCH_CLASS = {
    "batch": "BatchNorm2d",
    "group": "GroupNorm",
    "evonorm_s0": "EvoNorm2dS0",
    "frn": "FilterResponseNormTlu2d",
}
NORM_FIELDS = {"batch": {}, "group": {"groups": 4}, "evonorm_s0": {"groups": 4}, "frn": {}}
# The kinds that carry their own nonlinearity (timm's norm-act layers, apply_act=True).
ACTIVATING = {"evonorm_s0", "frn"}


def spec_of(kind: str, preact: bool | None = None) -> Spec:
    """The network with norms of ``kind``, pre-activation where the kind needs it (or as
    ``preact`` says)."""
    preact = kind in ACTIVATING if preact is None else preact
    return Spec.model_validate(
        {
            "name": f"norm_{kind}{'_preact' if preact else ''}",
            "num_classes": 10,
            "input": {"size": 16},
            "stem": {"type": "cifar", "channels": 16},
            "block": {"type": "basic", "preact": preact},
            "stages": [{"blocks": 1, "channels": 16}],
            "norm": {"type": kind, **NORM_FIELDS[kind]},
        }
    )


def test_the_spec_offers_exactly_the_registered_kinds() -> None:
    choices = typing.get_args(NormSpec.model_fields["type"].annotation)
    assert choices == tuple(TYPES)
    schema = json_schema()
    assert schema["$defs"]["NormSpec"]["properties"]["type"]["enum"] == TYPES
    assert set(BY_HAND) == set(TYPES) == set(TORCH_CLASS) == set(NORM_FIELDS)
    assert {kind for kind in TYPES if norm.kind(kind).activates} == ACTIVATING


@pytest.mark.parametrize("kind", TYPES)
def test_params_by_hand(kind: str) -> None:
    plan = build_plan(spec_of(kind))
    assert plan.params == BY_HAND[kind]
    assert [layer.params for layer in plan.norms] == [PER_CHANNEL[kind] * 16] * 3
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


@pytest.mark.parametrize("kind", sorted(ACTIVATING))
def test_no_activation_follows_a_norm_with_its_own(kind: str, tmp_path: Path) -> None:
    """Where the norm carries its nonlinearity (timm's norm-act layers), neither file applies
    the network's activation: the PyTorch model holds no ReLU, the Keras model no Activation
    layer; a batch-norm twin of the same network holds them (the count of its norms)."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    counts = {}
    for word in (kind, "batch"):
        spec = spec_of(word, preact=True)
        render_generated(spec, tmp_path)
        model = generated_factory("torch", spec.name, tmp_path)()
        relus = [m for m in model.modules() if type(m).__name__ == "ReLU"]
        keras_model = generated_factory("keras", spec.name, tmp_path)(input_shape=(16, 16, 3))
        acts = [layer for layer in keras_model.layers if type(layer).__name__ == "Activation"]
        counts[word] = (len(relus), len(acts))
    assert counts[kind] == (0, 0)
    assert counts["batch"] == (2, 3)  # the block's ReLU and the final norm's; 3 in Keras


@pytest.mark.parametrize(
    ("norm_line", "expected"),
    [
        ("{type: batch, groups: 4}", "norm.groups: only group norm and EvoNorm-S0 have groups"),
        ("{type: frn, groups: 4}", "norm.groups: only group norm and EvoNorm-S0 have groups"),
        ("{type: group, groups: 4, momentum: 0.1}", "norm.momentum: group norm keeps no"),
        ("{type: evonorm_s0, groups: 4, momentum: 0.1}", "norm.momentum: EvoNorm-S0 keeps no"),
        ("{type: frn, momentum: 0.1}", "norm.momentum: filter response norm (FRN) with TLU"),
        ("{type: group, groups: 12}", "norm.groups: 12 groups do not divide bn1's 16"),
        ("{type: evonorm_s0}", "norm.groups: 32 groups do not divide layer1.0.preact_bn's 16"),
        ("{type: frn}\nactivation: silu", "activation: frn applies its own nonlinearity"),
        ("{type: batch, group_size: 4}", "norm.group_size: only group norm has group_size"),
        ("{type: frn, group_size: 4}", "norm.group_size: only group norm has group_size"),
        ("{type: group, groups: 4, group_size: 4}", "norm.group_size: give groups"),
        (
            "{type: group, group_size: 12}",
            "norm.group_size: bn1's 16 channels are not a multiple of group_size 12",
        ),
        ("{type: evonorm_s0, groups: 4}\nactivation: gelu", "activation: evonorm_s0 applies"),
    ],
)
def test_each_kind_s_rules_sit_at_its_fields(norm_line: str, expected: str, tmp_path: Path) -> None:
    """Another kind's field is refused at ``norm.<field>`` (the spec's rules), group norm's and
    EvoNorm-S0's groups must divide every planned width (the rules on the plan), and a norm
    with its own nonlinearity refuses another activation (none would follow it)."""
    from resgen.check.validate import load_planned
    from resgen.errors import SpecError

    preact = "true" if any(f"type: {kind}" in norm_line for kind in ACTIVATING) else "false"
    path = tmp_path / "n.yaml"
    path.write_text(
        f"name: n\nstem: {{type: cifar, channels: 16}}\nblock: {{type: basic, preact: {preact}}}\n"
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


@pytest.mark.parametrize("kind", sorted(ACTIVATING))
def test_a_norm_with_its_own_nonlinearity_needs_pre_activation_blocks(
    kind: str, tmp_path: Path
) -> None:
    """A post-activation branch ends in a norm no activation follows (timm builds it with
    ``apply_act=False``, which for these layers leaves no norm): refused at ``norm.type``."""
    from resgen.check.validate import load_planned
    from resgen.errors import SpecError

    path = tmp_path / "n.yaml"
    path.write_text(
        "name: n\nstem: {type: cifar, channels: 16}\nblock: {type: bottleneck}\n"
        f"stages: [{{blocks: 1, channels: 16}}]\nnorm: {{type: {kind}, eps: 1.0e-6}}\n"
    )
    with pytest.raises(SpecError) as info:
        load_planned(path)
    found = [(p.field, p.line, p.message) for p in info.value.problems]
    assert len(found) == 1, found
    assert found[0][:2] == ("norm.type", 5)
    assert found[0][2].startswith(f"{kind} applies its own nonlinearity"), found


def test_a_deep_stem_and_a_conv_stem_pool_take_the_norm_alone(tmp_path: Path) -> None:
    """The other places a norm and the activation stand (a deep stem's first two convs, in
    timm's indexed ``conv1`` Sequential where an identity keeps the activation's index;
    ResNet-RS's conv stem pool; ResNet-D projections): the Keras twin equals the PyTorch file.
    The templates print these sites alike for every such kind: FRN stands for both."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = Spec.model_validate(
        {
            "name": "norm_frn_deep",
            "num_classes": 10,
            "input": {"size": 32},
            "stem": {"type": "deep", "channels": 32, "pool": "conv"},
            "block": {"type": "bottleneck", "preact": True},
            "stages": [{"blocks": 1, "channels": 8}, {"blocks": 1, "channels": 16, "stride": 2}],
            "shortcut": "avg_projection",
            "norm": {"type": "frn"},
        }
    )
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{spec.name}.py", tmp_path / "keras" / f"{spec.name}.py")
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 32) < 1e-4


@pytest.mark.parametrize("kind", sorted(ACTIVATING))
def test_the_keras_layer_saves_and_loads(kind: str, tmp_path: Path) -> None:
    """The registered layer's config (groups, epsilon) survives ``model.save`` and
    ``keras.saving.load_model``: the loaded model computes what the saved one did."""
    keras = pytest.importorskip("keras")
    import numpy as np

    spec = spec_of(kind)
    render_generated(spec, tmp_path, ("keras",))
    model = generated_factory("keras", spec.name, tmp_path)(input_shape=(16, 16, 3))
    for variable in model.weights:  # v and tau away from their initial 1 and 0
        variable.assign(np.random.default_rng(0).uniform(0.2, 1.2, variable.shape))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = next(layer for layer in loaded.layers if layer.name == "post_bn")
    assert type(layer).__name__ == norm.kind(kind).keras_layer
    assert layer.get_config()["epsilon"] == 1e-5
    x = np.random.default_rng(1).standard_normal((2, 16, 16, 3)).astype("float32")
    assert np.allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), atol=1e-6)


def test_a_block_kind_takes_them_only_where_its_templates_print_the_norm_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pre-activation block kind whose templates would print the activation after every
    norm (``BlockKind.activating_norms`` false: a future kind until it opts in) is refused at
    ``block.type`` with such a norm; basic and bottleneck opt in."""
    import dataclasses

    from resgen.check.validate import load_planned
    from resgen.components import block
    from resgen.errors import SpecError

    assert block.kind("basic").activating_norms and block.kind("bottleneck").activating_norms
    module = next(m for m in block.KINDS if m.KIND.type == "bottleneck")
    monkeypatch.setattr(module, "KIND", dataclasses.replace(module.KIND, activating_norms=False))
    path = tmp_path / "n.yaml"
    path.write_text(
        "name: n\nblock: {type: bottleneck, preact: true}\n"
        "stages: [{blocks: 1, channels: 16}]\nnorm: {type: frn}\n"
    )
    with pytest.raises(SpecError) as info:
        load_planned(path)
    found = [(p.field, p.line, p.message) for p in info.value.problems]
    message = "bottleneck blocks do not take frn (timm has no such network); use basic blocks or"
    assert [(field, line) for field, line, _ in found] == [("block.type", 2)]
    assert found[0][2] == f"{message} another norm"


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
