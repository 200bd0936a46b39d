"""Each shortcut kind (resgen/components/shortcut/), in the default suite: which spec words
select it, what it puts on a block, its templates, and the projection it plans, against the
published options (He et al. 2015's A, B and C, ResNet-D, keras.applications' ResNetV2) written
out by hand here."""

from __future__ import annotations

import typing

import pytest

from resgen.components import shortcut
from resgen.plan.planner import build_plan
from resgen.rendering.render import templates_dir
from resgen.spec.models import Spec

WHENS = [kind.KIND.when for kind in shortcut.KINDS]
POLICIES = typing.get_args(Spec.model_fields["shortcut"].annotation)
STRIDE_SHORTCUTS = typing.get_args(Spec.model_fields["stride_shortcut"].annotation)

# The spec's words and the kind they pick (pairs the rules refuse still pick one: the
# planner is total).
SELECTED = {
    ("none", "projection"): "none",
    ("none", "subsample"): "none",
    ("always_projection", "projection"): "always",
    ("always_projection", "subsample"): "always",
    ("projection", "projection"): "on_shape_change",
    ("avg_projection", "projection"): "on_shape_change",
    ("zero_pad", "projection"): "on_shape_change",
    ("zero_pad", "subsample"): "on_shape_change",
    ("projection", "subsample"): "on_width_change",
    ("avg_projection", "subsample"): "on_width_change",
    ("identity", "projection"): "identity_only",
    ("identity", "subsample"): "identity_only",
}

# What each kind puts on a block mapping (in, out, stride), its module a projection:
# same shape, a stride-only change, a width change.
ON_BLOCKS = {
    "none": ("none", "none", "none"),
    "always": ("projection", "projection", "projection"),
    "on_shape_change": ("identity", "projection", "projection"),
    "on_width_change": ("identity", "subsample", "projection"),
    # timm regnet.py's downsample=None: no shortcut at all where the shape changes.
    "identity_only": ("identity", "none", "none"),
}


def test_every_pair_of_spec_words_selects_its_kind() -> None:
    assert set(SELECTED) == {(p, s) for p in POLICIES for s in STRIDE_SHORTCUTS}
    for (policy, stride_shortcut), when in SELECTED.items():
        assert shortcut.select(policy, stride_shortcut).when == when


@pytest.mark.parametrize("when", WHENS)
def test_each_kind_on_a_block_and_its_templates(when: str) -> None:
    kind = next(k.KIND for k in shortcut.KINDS if k.KIND.when == when)
    shapes = ((64, 64, 1), (64, 64, 2), (64, 128, 2))
    assert tuple(kind.on("projection", *shape) for shape in shapes) == ON_BLOCKS[when]
    assert kind.residual == (when != "none")
    for backend in ("torch", "keras"):
        assert (templates_dir() / backend / "shortcuts" / f"{when}.py.j2").is_file()


def test_the_registry_is_every_kind_once() -> None:
    assert set(WHENS) == set(ON_BLOCKS) and len(WHENS) == len(set(WHENS))


def two_stages(**fields: object) -> Spec:
    return Spec.model_validate(
        {
            "name": "shortcuts",
            "input": {"size": 8},
            "stem": {"type": "cifar", "channels": 16},
            "block": {"type": "basic"},
            "stages": [{"blocks": 1, "channels": 16}, {"blocks": 1, "channels": 32, "stride": 2}],
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("fields", "params"),
    [
        # option B: a 1x1 16 -> 32 at stride 2 and its norm: 512 + 64.
        ({"shortcut": "projection"}, (0, 512 + 64)),
        # option A: zeros appended, no parameters.
        ({"shortcut": "zero_pad"}, (0, 0)),
        # option C: 1x1 16 -> 16 (256 + 32) on the first block too.
        ({"shortcut": "always_projection"}, (256 + 32, 512 + 64)),
        # ResNet-D: the pool has none; the 1x1 and its norm as B.
        ({"shortcut": "avg_projection"}, (0, 512 + 64)),
        # identity (RegNet-Z): none where the shape changes, no parameters anywhere.
        ({"shortcut": "identity"}, (0, 0)),
        # SENet-154's 3x3 where it strides: 9 * 16 * 32 + 64.
        ({"shortcut": "projection", "projection_kernel": 3}, (0, 4608 + 64)),
    ],
)
def test_shortcut_params_by_hand(fields: dict[str, object], params: tuple[int, int]) -> None:
    plan = build_plan(two_stages(**fields))
    found = tuple(
        sum(layer.params for layer in (*b.shortcut_convs, *b.shortcut_norms)) for b in plan.blocks
    )
    assert found == params


def test_identity_on_any_post_activation_block_has_its_keras_twin(tmp_path) -> None:
    """``shortcut: identity`` is no RegNet special case: a basic-block network whose second
    stage widens (no shortcut on its first block, the identity on its second), with attention
    and stochastic depth in the branch, renders ruff-clean and its Keras twin equals it."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from helpers import generated_factory, render_generated, ruff_clean
    from test_transfer import check_round_trip

    spec = two_stages(
        name="identity_basic",
        shortcut="identity",
        drop_path_rate=0.1,
        block={"type": "basic", "attention": {"type": "se"}},
        stages=[{"blocks": 1, "channels": 16}, {"blocks": 2, "channels": 32, "stride": 2}],
    )
    assert [b.shortcut for b in build_plan(spec).blocks] == ["identity", "none", "identity"]
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / "identity_basic.py", tmp_path / "keras" / "identity_basic.py")
    torch_factory = generated_factory("torch", "identity_basic", tmp_path)
    keras_factory = generated_factory("keras", "identity_basic", tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 8) < 1e-4
