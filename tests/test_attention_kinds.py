"""Each attention kind (resgen/components/attention/), in the default suite: its parameters and
MACs against a hand computation, its Keras twin equal to its PyTorch file through
resgen.weights.transfer, and its place in the schema and the field reference. timm's own module is
the reference in tests/test_attention_reference.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REPO, generated_factory, render_generated, ruff_clean

from resgen.components import attention
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec
from resgen.spec.schema import json_schema

TYPES = [kind.KIND.type for kind in attention.KINDS]

# Per attention module at C channels on a 4 x 4 map (a basic block of 64 channels, a bottleneck
# of 256), by hand from each paper's and timm's layer list: (parameters, MACs).
BY_HAND: dict[str, dict[int, tuple[int, int]]] = {
    # 1x1 to make_divisible(C / 16, 8) with bias, 1x1 back with bias: 2 C h + h + C; 2 C h MACs.
    "se": {64: (2 * 64 * 8 + 8 + 64, 2 * 64 * 8), 256: (2 * 256 * 16 + 16 + 256, 2 * 256 * 16)},
    # one bias-free 1-D conv of k taps (k = 3 at 64 channels, 5 at 256): k, k C.
    "eca": {64: (3, 3 * 64), 256: (5, 5 * 256)},
    # one 1x1 conv keeping the width, with bias: C C + C; C C MACs.
    "ese": {64: (64 * 64 + 64, 64 * 64), 256: (256 * 256 + 256, 256 * 256)},
    # 1-D convs across the C channels: 1 tap to h = make_divisible(C / 8, 8) with bias, k taps
    # back to one with bias (k = 3 at 64, 5 at 256): 2 h + h k + 1; h C (1 + k) MACs.
    "ecam": {64: (2 * 8 + 8 * 3 + 1, 8 * 64 * 4), 256: (2 * 32 + 32 * 5 + 1, 32 * 256 * 6)},
    # as ECA: one bias-free 1-D conv of k taps (circular padding adds nothing).
    "ceca": {64: (3, 3 * 64), 256: (5, 5 * 256)},
    # a bias-free MLP C -> round(C / 16) -> C run on the mean and the max, then a bias-free 7x7
    # conv 2 -> 1 on the 4 x 4 map and its batch norm's 2: 2 C h + 98 + 2; 4 C h + 98 * 16.
    "cbam": {
        64: (2 * 64 * 4 + 100, 4 * 64 * 4 + 98 * 16),
        256: (2 * 256 * 16 + 100, 4 * 256 * 16 + 98 * 16),
    },
    # CBAM's layers, the MLP run once and the 7x7 conv 1 -> 1: 2 C h + 49 + 2; 2 C h + 49 * 16.
    "lcbam": {
        64: (2 * 64 * 4 + 51, 2 * 64 * 4 + 49 * 16),
        256: (2 * 256 * 16 + 51, 2 * 256 * 16 + 49 * 16),
    },
    # a 1x1 conv C -> 1 with bias (C MACs a pixel, 16 pixels), an MLP C -> round(C / 8) -> C
    # with biases and a layer norm's 2 h between: C + 1 + 2 C h + h + 2 h + C; 16 C + 2 C h.
    "gc": {
        64: (64 + 1 + 2 * 64 * 8 + 3 * 8 + 64, 16 * 64 + 2 * 64 * 8),
        256: (256 + 1 + 2 * 256 * 32 + 3 * 32 + 256, 16 * 256 + 2 * 256 * 32),
    },
    # gc's layers, the MLP's output added instead of gating.
    "gca": {
        64: (64 + 1 + 2 * 64 * 8 + 3 * 8 + 64, 16 * 64 + 2 * 64 * 8),
        256: (256 + 1 + 2 * 256 * 32 + 3 * 32 + 256, 16 * 256 + 2 * 256 * 32),
    },
    # bias-free 1x1 convs C -> h (h = make_divisible(C / 16 * 2 / 3, 8) = 8 at 64 and 256)
    # and h -> C twice, batch norm's 2 h: 3 C h + 2 h; conv1 on 4 + 4 positions, conv_h and
    # conv_w on 4 each: 16 C h MACs.
    "coord": {64: (3 * 64 * 8 + 16, 16 * 64 * 8), 256: (3 * 256 * 8 + 16, 16 * 256 * 8)},
}


def spec_of(kind: str, block: str, size: int = 16) -> Spec:
    """Two stages, 16 and 32 wide (a bottleneck's output 64 and 128), on a cifar stem."""
    return Spec.model_validate(
        {
            "name": f"attention_{kind}_{block}",
            "num_classes": 5,
            "input": {"size": size},
            "stem": {"type": "cifar", "channels": 16},
            "block": {"type": block, "attention": {"type": kind}},
            "stages": [{"blocks": 1, "channels": 16}, {"blocks": 1, "channels": 32, "stride": 2}],
        }
    )


def test_every_kind_is_counted_by_hand() -> None:
    assert set(BY_HAND) == set(TYPES)


@pytest.mark.parametrize("kind", TYPES)
def test_params_and_macs_by_hand(kind: str) -> None:
    for block, channels, out in (("basic", 64, 64), ("bottleneck", 64, 256)):
        spec = Spec.model_validate(
            {
                "name": "counted",
                "input": {"size": 4},
                "stem": {"type": "cifar", "channels": channels},
                "block": {"type": block, "attention": {"type": kind}},
                "stages": [{"blocks": 2, "channels": channels}],
            }
        )
        plain = spec.model_copy(update={"block": spec.block.model_copy(update={"attention": None})})
        plan, base = build_plan(spec), build_plan(plain)
        params, macs = BY_HAND[kind][out]
        for found in plan.blocks:
            assert found.attention is not None
            assert (found.attention.params, found.attention.macs) == (params, macs), block
        assert plan.params - base.params == 2 * params
        assert plan.macs - base.macs == 2 * macs


def test_one_pytorch_path_names_one_keras_layer() -> None:
    """resgen.weights.transfer pairs weights by PyTorch path alone: kinds that reuse a timm
    attribute (``se.conv`` in eca and ecam) must give it the same Keras name."""
    from resgen.components.naming import block_names

    names: dict[tuple[str, str], str] = {}
    for kind in attention.KINDS:
        for layer, torch_name, keras_name in kind.weights(block_names(1, 0)):
            assert names.setdefault((layer, torch_name), keras_name) == keras_name, kind
    assert len(set(names.values())) == len(names)


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
@pytest.mark.parametrize("kind", TYPES)
def test_files_are_ruff_clean_and_the_keras_twin_equals_the_torch_file(
    kind: str, block: str, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec = spec_of(kind, block)
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / f"{spec.name}.py", tmp_path / "keras" / f"{spec.name}.py")
    torch_factory = generated_factory("torch", spec.name, tmp_path)
    keras_factory = generated_factory("keras", spec.name, tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 16) < 1e-4


@pytest.mark.parametrize("kind", TYPES)
def test_every_kind_is_in_the_schema_and_the_field_reference(kind: str) -> None:
    assert f'"const": "{kind}"' in json.dumps(json_schema())
    reference = (REPO / "docs" / "spec-reference.md").read_text(encoding="utf-8")
    assert f"## block.attention, type: {kind}\n" in reference


@pytest.mark.parametrize("kind", TYPES)
def test_keras_helpers_take_any_map_size(kind: str, tmp_path: Path) -> None:
    """keras.applications' convention: without the top, height and width stay open; every
    kind's Keras helper builds so and runs on a non-square map."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("keras")
    spec = spec_of(kind, "bottleneck")
    render_generated(spec, tmp_path, ("keras",))
    factory = generated_factory("keras", spec.name, tmp_path)
    model = factory(include_top=False, input_shape=(None, None, 3))
    out = model(np.random.default_rng(0).random((1, 16, 20, 3), dtype=np.float32))
    assert tuple(out.shape) == (1, 8, 10, 128)
