"""timm's resnetv2.py (``family: resnetv2``, ``naming: resnetv2``) in the default suite.

The dialect against every key of timm's 20 resnetv2 models (tests/data/timm_families.json,
written from timm 1.0.31: no timm import here); the pre-activation blocks' wiring (the
shortcut reads the pre-activated input, ``downsample`` registered first, DownsampleAvg's
pool) and the stems, the stem pool's padding and the 1x1 conv classifier against hand
computations on small networks; the stage container under ``features_only`` and
``frozen_stages``; the rules the dialect brings. tests/test_resnetv2_reference.py holds the
same models to timm itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import DATA, generated_factory, render_generated

from resgen.check.validate import load_spec
from resgen.components import naming
from resgen.errors import SpecError
from resgen.plan.planner import build_plan
from resgen.spec.models import Spec
from resgen.weights.transfer import keras_layer_name

LISTING = json.loads((DATA / "timm_families.json").read_text(encoding="utf-8"))["models"]
RESNETV2 = sorted(name for name, entry in LISTING.items() if entry["module"] == "resnetv2")
SPECS = Path(__file__).resolve().parent.parent / "specs"
DIALECT = naming.RESNETV2


def test_the_listing_has_timms_twenty_resnetv2_models() -> None:
    assert len(RESNETV2) == 20


@pytest.mark.parametrize("name", RESNETV2)
def test_the_dialect_names_every_key_of_timms_resnetv2_models(name: str) -> None:
    """Every block key parses to its stage and block and prints back; the rest are the stem's,
    the final norm's and the classifier's (BiT's, EvoNorm's and FRN's models included)."""
    for key in LISTING[name]["state_dict"]:
        place = DIALECT.block_place(key)
        if place is None:
            assert key.startswith(("stem.", "norm.", f"{DIALECT.classifier}.")), key
            continue
        stage, index = place
        assert key.startswith(f"stages.{stage - 1}.blocks.{index}.")
        assert key.startswith(DIALECT.block_names(stage, index).torch + ".")


def test_block_names_are_timms_preact_names() -> None:
    """timm's PreActBottleneck numbers a norm by the conv it leads: ``norm1`` pre-activates
    the block, ``norm2`` follows ``conv1``; the projection is ``downsample.conv`` with or
    without DownsampleAvg's ``pool``. Keras keeps keras.applications' names."""
    names = DIALECT.block_names(2, 3)
    keras = naming.TIMM.block_names(2, 3)
    assert names.preact_norm == ("stages.1.blocks.3.norm1", keras.preact_norm[1])
    assert names.norm(1) == ("stages.1.blocks.3.norm2", keras.norm(1)[1])
    assert names.norm(2)[0] == "stages.1.blocks.3.norm3"
    assert names.conv(3) == ("stages.1.blocks.3.conv3", keras.conv(3)[1])
    for avg in (False, True):
        assert names.projection(avg=avg)[0] == "stages.1.blocks.3.downsample.conv"
    assert DIALECT.block_child() is None and DIALECT.stage_blocks == "blocks"
    assert DIALECT.stage_container == "stages" and naming.TIMM.stage_container is None


@pytest.mark.parametrize(("name", "count"), [("resnetv2_50", 1), ("resnetv2_50d", 3)])
def test_stem_keys_are_the_listings(name: str, count: int) -> None:
    """``stem.conv`` alone, or ``stem.conv1 norm1 conv2 norm2 conv3``: no norm after the last
    conv of a pre-activation stem."""
    plan = build_plan(load_spec(SPECS / f"{name}.yaml"))
    ours = [
        layer.torch_name for conv, norm in plan.stem.conv_norms for layer in (conv, norm) if layer
    ]
    theirs = [
        key.rsplit(".", 1)[0] for key in LISTING[name]["state_dict"] if key.startswith("stem.")
    ]
    assert ours == list(dict.fromkeys(theirs))
    assert len(plan.stem.convs) == count and plan.stem.pool is not None
    assert plan.stem.pool.torch_name == "stem.pool"


def test_the_tiered_stem_by_hand() -> None:
    """timm's 'tiered' stem: 3 * 64 // 8 = 24 and 64 // 2 = 32, then 64."""
    plan = build_plan(load_spec(SPECS / "resnetv2_50t.yaml"))
    assert [conv.out_channels for conv in plan.stem.convs] == [24, 32, 64]
    assert LISTING["resnetv2_50t"]["state_dict"]["stem.conv1.weight"] == [24, 3, 3, 3]


def test_the_classifier_is_a_conv_that_pairs_with_keras_predictions() -> None:
    assert keras_layer_name("head.fc", "conv_linear") == "predictions"
    assert keras_layer_name("fc", "conv_linear") is None  # only the dialect's conv classifier
    assert LISTING["resnetv2_50"]["state_dict"]["head.fc.weight"] == [1000, 2048, 1, 1]


# --- small generated networks, by hand ------------------------------------------------------

torch = pytest.importorskip("torch")
F = torch.nn.functional

SMALL = {
    "name": "small_v2",
    "num_classes": 5,
    "input": {"channels": 3, "size": 32},
    "naming": "resnetv2",
    "stem": {"type": "deep", "channels": 16},
    "block": {"type": "bottleneck", "preact": True},
    "stages": [
        {"blocks": 1, "channels": 8},
        {"blocks": 2, "channels": 8, "stride": 2},
        {"blocks": 1, "channels": 16, "stride": 2},
    ],
    "shortcut": "avg_projection",
}


def _small(tmp_path: Path, name: str = "small_v2", **changes: object) -> torch.nn.Module:
    spec = Spec.model_validate({**SMALL, "name": name, **changes})
    render_generated(spec, tmp_path, ("torch",))
    torch.manual_seed(0)
    model = generated_factory("torch", name, tmp_path)()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.3)
                module.running_mean.normal_(0, 0.3)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _branch(block: torch.nn.Module, preact: torch.Tensor) -> torch.Tensor:
    out = block.conv1(preact)
    out = block.conv2(F.relu(block.norm2(out)))
    return block.conv3(F.relu(block.norm3(out)))


def test_the_shortcut_reads_the_preactivated_input(tmp_path: Path) -> None:
    """timm's PreActBottleneck: ``x_preact = norm1(x)`` (with its ReLU) feeds both the branch
    and ``downsample`` (DownsampleAvg: 2x2/2 average, ceil mode, padding not counted, then the
    1x1 conv, no norm); an identity shortcut adds ``x`` itself. ``downsample`` is registered
    first, as timm's state_dict lists it."""
    model = _small(tmp_path)
    first, second = model.stages[1].blocks
    assert [name for name, _ in first.named_children()][:2] == ["downsample", "norm1"]
    assert [name for name, _ in first.downsample.named_children()] == ["pool", "conv"]
    assert second.downsample is None
    x = torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        preact = F.relu(first.norm1(x))
        pooled = F.avg_pool2d(preact, 2, 2, ceil_mode=True, count_include_pad=False)
        expected = _branch(first, preact) + first.downsample.conv(pooled)
        torch.testing.assert_close(first(x), expected)
        y = torch.randn(2, 32, 4, 4)
        torch.testing.assert_close(second(y), _branch(second, F.relu(second.norm1(y))) + y)
    # Stage 1's first block keeps the map (stride 1): timm's DownsampleAvg has no pool there.
    assert isinstance(model.stages[0].blocks[0].downsample.pool, torch.nn.Identity)


def _stem_and_pooled(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    seen: list[torch.Tensor] = []
    hook = model.stages[0].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    with torch.no_grad():
        stem_map = model.forward_intermediates(x, indices=[0], intermediates_only=True)[0]
        model(x)
    hook.remove()
    return stem_map, seen[0]


@pytest.mark.parametrize("padding", ["ignore", "zeros"])
def test_the_stem_pool_pads_as_timm_by_hand(tmp_path: Path, padding: str) -> None:
    """A pre-activation stem ends in a bare conv, so its map has negative values and the pool's
    padding matters: ``ignore`` is timm's default MaxPool2d(3, 2, padding=1) (padded cells
    never win), ``zeros`` is BiT's stem_type 'fixed' (``stem.pad`` ConstantPad2d(1, 0.), then
    ``stem.pool`` MaxPool2d(3, 2)), where a zero beats a negative border."""
    model = _small(
        tmp_path,
        f"small_{padding}",
        stem={"type": "imagenet", "channels": 16, "pool_padding": padding},
    )
    children = [name for name, _ in model.stem.named_children()]
    assert children == (["conv", "pad", "pool"] if padding == "zeros" else ["conv", "pool"])
    with torch.no_grad():
        model.stem.conv.weight.abs_().neg_()  # every output of the conv negative on x > 0
    x = torch.rand(1, 3, 32, 32) + 0.1
    stem_map, pooled = _stem_and_pooled(model, x)
    with torch.no_grad():
        conv = F.conv2d(x, model.stem.conv.weight, stride=2, padding=3)
    torch.testing.assert_close(stem_map, conv)  # the stem's map is taken before the pool
    assert (conv < 0).all()
    if padding == "zeros":
        expected = F.max_pool2d(F.pad(conv, (1, 1, 1, 1), value=0.0), 3, 2)
        assert (pooled[..., 0, :] == 0).all() and (pooled[..., :, 0] == 0).all()
    else:
        expected = F.max_pool2d(conv, 3, 2, padding=1)
        assert (pooled < 0).all()
    torch.testing.assert_close(pooled, expected)
    assert pooled.shape[-1] == 8  # 32 -> 16 -> 8 either way


def test_the_head_is_a_1x1_conv_by_hand(tmp_path: Path) -> None:
    """timm's ClassifierHead(use_conv=True): average pool, the 1x1 conv with a bias, flatten;
    ``pre_logits`` and ``num_classes=0`` give the pooled features."""
    model = _small(tmp_path)
    fc = model.head.fc
    assert isinstance(fc, torch.nn.Conv2d) and tuple(fc.weight.shape) == (5, 64, 1, 1)
    # timm's _init_weights for ``head.fc``: normal with std 0.01, zero bias.
    assert torch.equal(fc.bias, torch.zeros(5)) and 0.008 < float(fc.weight.detach().std()) < 0.012
    features = torch.randn(2, 64, 3, 3)
    pooled = features.mean((2, 3))
    with torch.no_grad():
        logits = model.forward_head(features)
        torch.testing.assert_close(logits, F.linear(pooled, fc.weight[:, :, 0, 0], fc.bias))
        torch.testing.assert_close(model.forward_head(features, pre_logits=True), pooled)
        model.reset_classifier(0)
        torch.testing.assert_close(model.forward_head(features), pooled)


def test_features_only_and_frozen_stages_in_the_stage_container(tmp_path: Path) -> None:
    """``stages`` holds the stages (timm's ``stages.0`` ...): ``features_only`` replaces those
    past the last map with identities, ``frozen_stages`` freezes the stem and the first k."""
    spec = Spec.model_validate(SMALL)
    render_generated(spec, tmp_path, ("torch",))
    factory = generated_factory("torch", "small_v2", tmp_path)
    model = factory(features_only=True, out_indices=(0, 2))
    assert [info["module"] for info in model.feature_info] == ["stem.conv3", "stages.1"]
    assert isinstance(model.stages[2], torch.nn.Identity)
    maps = model(torch.randn(1, 3, 32, 32))
    assert [tuple(m.shape) for m in maps] == [(1, 16, 16, 16), (1, 32, 4, 4)]
    frozen = factory(frozen_stages=2)
    assert not any(p.requires_grad for p in frozen.stem.parameters())
    assert not any(p.requires_grad for p in frozen.stages[1].parameters())
    assert all(p.requires_grad for p in frozen.stages[2].parameters())
    assert not frozen.stages[0].training and frozen.stages[2].training


def _load_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "net.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return "\n".join(str(problem) for problem in caught.value.problems)


BASE = (
    "name: net\nnaming: resnetv2\nblock: {type: bottleneck, preact: true}\n"
    "stages: [{blocks: 1, channels: 8}]\n"
)


def test_the_dialect_names_only_a_1x1_projection_and_its_pool(tmp_path: Path) -> None:
    """resnetv2.py names ``downsample.conv`` (after ``downsample.pool`` with avg_down); option
    A's zero padding and a wide projection kernel it cannot name."""
    message = _load_error(tmp_path, BASE + "shortcut: zero_pad\n")
    assert "net.yaml:2:9: naming: resnetv2 names a shortcut of one 1x1 conv" in message
    message = _load_error(tmp_path, BASE + "shortcut: projection\nprojection_kernel: 3\n")
    assert "naming: resnetv2 names a shortcut of one 1x1 conv" in message
    path = tmp_path / "ok.yaml"
    path.write_text(BASE + "shortcut: avg_projection\n", encoding="utf-8")
    assert load_spec(path).naming == "resnetv2"
