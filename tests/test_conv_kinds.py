"""Each conv kind (resgen/components/conv/), in the default suite: the spec's choices are the
registered kinds, the parameters on one small network against a hand count (standardisation
adds none), the PyTorch file builds every conv but the classifier with the kind's class and
that class computes weight standardisation as the paper defines it (checked against a NumPy
computation), every conv call site (stems, the conv stem pool, projections of every kind, basic
and bottleneck blocks in both variants) builds it, the Keras twin equals the PyTorch file through
resgen.weights.transfer (and saves and loads), and the kind's rules where the spec puts them.
tests/test_conv_reference.py checks the class and a network against timm's StdConv2d."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, generated_factory, generated_module, render_generated, ruff_clean

from resgen.components import conv
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec
from resgen.spec.schema import json_schema

TYPES = [module.KIND.type for module in conv.KINDS]
TORCH_CLASS = {"plain": "Conv2d", "weight_standardized": "StdConv2d"}
KERAS_CLASS = {"plain": "Conv2D", "weight_standardized": "StdConv2D"}
CONV_FIELDS: dict[str, dict[str, float]] = {"plain": {}, "weight_standardized": {"eps": 1e-8}}

# The network: a 7x7/2 stem of 16 channels and its max pool, bottlenecks of width 8 (out 32)
# and 16 (out 64, stride 2), each with a projection, group norm of 8 groups, 10 classes. By
# hand: stem 3 * 16 * 49 + 2 * 16; block 1: 16 * 8 + 2 * 8, 8 * 8 * 9 + 2 * 8, 8 * 32 + 2 * 32,
# projection 16 * 32 + 2 * 32; block 2: 32 * 16 + 2 * 16, 16 * 16 * 9 + 2 * 16,
# 16 * 64 + 2 * 64, projection 32 * 64 + 2 * 64; classifier 64 * 10 + 10. Weight
# standardisation has no parameters of its own.
BY_HAND = 2384 + 1632 + 6208 + 650
CONVS = 9  # the stem's, three and a projection per block (the classifier is a Linear)


def spec_of(kind: str, block: str = "bottleneck") -> Spec:
    return Spec.model_validate(
        {
            "name": f"conv_{kind}",
            "num_classes": 10,
            "input": {"size": 32},
            "stem": {"type": "imagenet", "channels": 16},
            "block": {"type": block},
            "stages": [{"blocks": 1, "channels": 8}, {"blocks": 1, "channels": 16, "stride": 2}],
            "norm": {"type": "group", "groups": 8},
            "conv": {"type": kind, **CONV_FIELDS[kind]},
        }
    )


# Every other conv call site under weight standardisation: the deep stem, ResNet-RS's conv stem
# pool, 3x3 strided projections and mixed basic and bottleneck stages; the pre-activation
# blocks with ResNet-D's pooled projection and timm's resnetv2 names and zero-padded stem pool.
CALL_SITES = {
    "ws_stems_and_projections": {
        "input": {"size": 32},
        "stem": {"type": "deep", "widths": [8, 8, 16], "pool": "conv"},
        "block": {"type": "bottleneck"},
        "stages": [
            {"blocks": 1, "channels": 8, "block_type": "basic"},
            {"blocks": 1, "channels": 8, "stride": 2},
            {"blocks": 1, "channels": 16, "stride": 2, "block_type": "basic"},
        ],
        "projection_kernel": 3,
        "final_conv": 24,
    },
    # timm regnet.py's names hold a pre-activation projection as the bare conv ``downsample``.
    "ws_preact_bare_projection": {
        "input": {"size": 32},
        "naming": "regnet",
        "stem": {"type": "imagenet", "channels": 16},
        "block": {"type": "basic", "preact": True},
        "stages": [{"blocks": 1, "channels": 16}, {"blocks": 1, "channels": 32, "stride": 2}],
    },
    "ws_preact_avg_down": {
        "input": {"size": 33},
        "naming": "resnetv2",
        "stem": {"type": "imagenet", "channels": 16, "pool_padding": "zeros"},
        "block": {"type": "bottleneck", "preact": True},
        "stages": [{"blocks": 1, "channels": 4}, {"blocks": 2, "channels": 8, "stride": 2}],
        "shortcut": "avg_projection",
    },
}


def call_site_spec(name: str) -> Spec:
    data = {"name": name, "num_classes": 5, **CALL_SITES[name]}
    return Spec.model_validate({**data, "conv": {"type": "weight_standardized", "eps": 1e-8}})


@pytest.mark.parametrize("name", sorted(CALL_SITES))
def test_every_call_site_builds_the_kind_and_its_twin_agrees(name: str, tmp_path: Path) -> None:
    """Every conv of the PyTorch file but the classifier is a StdConv2d (a classifier that is a
    1x1 conv stays nn.Conv2d, as timm's head), and the Keras twin equals it."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = call_site_spec(name)
    plan = build_plan(spec)
    render_generated(spec, tmp_path)
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    model = torch_factory()
    found = {
        p: type(m).__name__ for p, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)
    }
    found.pop(plan.head.torch_name, None)
    assert found == {conv.torch_name: "StdConv2d" for conv in plan.convs}
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, spec.input.size) < 1e-4


def test_the_spec_offers_exactly_the_registered_kinds() -> None:
    schema = json_schema()
    members = schema["properties"]["conv"]["oneOf"]
    found = [schema["$defs"][m["$ref"].split("/")[-1]]["properties"]["type"] for m in members]
    assert [entry["const"] for entry in found] == TYPES
    assert set(TORCH_CLASS) == set(KERAS_CLASS) == set(CONV_FIELDS) == set(TYPES)
    assert Spec.model_validate(spec_of("plain").model_dump(exclude={"conv"})).conv.type == "plain"


@pytest.mark.parametrize("kind", TYPES)
def test_params_by_hand(kind: str) -> None:
    plan = build_plan(spec_of(kind))
    assert plan.params == BY_HAND
    assert plan.conv.kind is conv.kind(kind)


def standardized(weight: np.ndarray, eps: float) -> np.ndarray:
    """Qiao et al. 2019, eq. 2, per output channel over (in, kh, kw), biased variance."""
    flat = weight.reshape(weight.shape[0], -1).astype(np.float64)
    mean = flat.mean(axis=1, keepdims=True)
    variance = ((flat - mean) ** 2).mean(axis=1, keepdims=True)
    return ((flat - mean) / np.sqrt(variance + eps)).reshape(weight.shape)


@pytest.mark.parametrize("kind", TYPES)
def test_the_torch_file_builds_every_conv_with_the_kind(kind: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    spec = spec_of(kind)
    render_generated(spec, tmp_path, ("torch",))
    model = generated_factory("torch", spec.name, tmp_path)().eval()
    convs = {p: m for p, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert {type(m).__name__ for m in convs.values()} == {TORCH_CLASS[kind]}
    assert len(convs) == CONVS
    assert sum(p.numel() for p in model.parameters()) == BY_HAND
    # Each conv against a NumPy computation: the standardised weight (or the weight as it is).
    torch.manual_seed(0)
    for layer in convs.values():
        with torch.no_grad():
            layer.weight.mul_(3.0).add_(0.5)  # a mean and a scale to take away
        x = torch.randn(2, layer.in_channels, 9, 9)
        weight = layer.weight.detach().numpy()
        if kind == "weight_standardized":
            assert layer.eps == 1e-8
            weight = standardized(weight, 1e-8)
        expected = torch.nn.functional.conv2d(
            x.double(),
            torch.from_numpy(weight).double(),
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=layer.groups,
        )
        with torch.no_grad():
            torch.testing.assert_close(layer(x).double(), expected, rtol=1e-4, atol=1e-4)


def test_the_class_pads_as_timm_without_a_padding(tmp_path: Path) -> None:
    """timm's get_padding, ((stride - 1) + dilation * (kernel - 1)) // 2, where a call gives
    none (every call site of the file gives one, as nn.Conv2d's)."""
    pytest.importorskip("torch")
    spec = spec_of("weight_standardized")
    render_generated(spec, tmp_path, ("torch",))
    std_conv = generated_module("torch", spec.name, tmp_path).StdConv2d
    for kernel, stride, dilation, padding in [
        (1, 1, 1, 0),
        (1, 2, 1, 0),
        (3, 1, 1, 1),
        (3, 2, 1, 1),
        (3, 1, 2, 2),
        (7, 2, 1, 3),
    ]:
        layer = std_conv(4, 4, kernel, stride=stride, dilation=dilation)
        assert layer.padding == (padding, padding), (kernel, stride, dilation)


@pytest.mark.parametrize("kind", TYPES)
def test_the_keras_twin_equals_the_torch_file(kind: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    from test_transfer import check_round_trip

    from resgen.weights.transfer import TransferError, torch_to_keras

    spec = spec_of(kind)
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{spec.name}.py", tmp_path / "keras" / f"{spec.name}.py")
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 32) < 1e-4
    model = keras_factory(input_shape=(32, 32, 3))
    found = [type(layer).__name__ for layer in model.layers if "Conv" in type(layer).__name__]
    assert found == [KERAS_CLASS[kind]] * CONVS
    if kind == "plain":
        return
    # The twin saves and loads (a registered layer, its epsilon in its config) ...
    x = np.random.default_rng(1).standard_normal((1, 32, 32, 3)).astype("float32")
    saved = tmp_path / "twin.keras"
    model.save(saved)
    loaded = keras.saving.load_model(saved)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-5)
    assert {layer.epsilon for layer in loaded.layers if hasattr(layer, "epsilon")} >= {1e-8}
    # ... and transfer refuses a twin whose epsilon differs.
    next(layer for layer in model.layers if type(layer).__name__ == "StdConv2D").epsilon = 1e-3
    with pytest.raises(TransferError, match=r"eps 1e-08 != epsilon 0\.001"):
        torch_to_keras(torch_factory(), model)


@pytest.mark.parametrize(
    ("conv_line", "block_line", "expected", "at"),
    [
        (
            "{type: weight_standardized, eps: 0}",
            "{type: bottleneck}",
            "conv.eps: must be >= 1e-12, got 0",
            "0}",
        ),
        ("{type: plain, eps: 1e-8}", "{type: basic}", "conv.eps: unknown field 'eps'", "eps"),
        ("{type: standard}", "{type: basic}", "conv.type: must be one of 'plain' or", "standard"),
        (
            "{type: weight_standardized}",
            "{type: sk_basic}",
            "conv.type: sk_basic blocks build their convs as timm's module does",
            "weight",
        ),
        (
            "{type: weight_standardized}",
            "{type: res2net}",
            "conv.type: res2net blocks build their convs",
            "weight",
        ),
    ],
)
def test_each_rule_sits_at_its_field(
    conv_line: str, block_line: str, expected: str, at: str, tmp_path: Path
) -> None:
    """A bad epsilon, another kind's field or an unknown kind are refused at ``conv.<field>``
    (field validation); a block kind whose templates print timm's nn.Conv2d at ``conv.type``
    (the rules), each on the line and column of that key or value (``at``)."""
    from resgen.check.validate import load_planned
    from resgen.errors import SpecError

    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\nstem: {type: cifar, channels: 16}\n"
        f"block: {block_line}\nstages: [{{blocks: 1, channels: 16}}]\nconv: {conv_line}\n"
    )
    with pytest.raises(SpecError) as info:
        load_planned(path)
    problems = [p for p in info.value.problems if p.field.startswith("conv")]
    assert len(problems) == 1, info.value.problems
    problem = problems[0]
    assert f"{problem.field}: {problem.message}".startswith(expected)
    assert problem.line == 5
    assert problem.col == len("conv: ") + conv_line.index(at) + 1


def test_every_kind_is_in_the_field_reference() -> None:
    reference = (REPO / "docs" / "spec-reference.md").read_text(encoding="utf-8")
    text = json.dumps(json_schema())
    for module in conv.KINDS:
        assert f"## conv, type: {module.KIND.type}" in reference
        assert f'"{module.KIND.type}"' in text
    assert typing.get_args(conv.ConvSpec)  # the union the spec's field is
