"""The generated PyTorch model's timm interface, on every block kind and shortcut policy.

``num_classes=0``, ``forward_features``, ``forward_head``, ``reset_classifier``,
``num_features`` and ``forward_intermediates`` are checked against hand computations: the
pooled features are the spatial mean of the feature map, the intermediates are what forward
hooks on the stem and the stages see, their shapes are the plan's (and, for ResNet-50, numbers
worked out by hand). tests/test_timm_reference.py compares the same methods with timm's own
models where timm imports.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from helpers import generated_module, render_generated, shipped_specs, spec_path

torch = pytest.importorskip("torch")

from resgen.check.validate import load_spec  # noqa: E402
from resgen.components.attention.eca import EfficientChannelAttention  # noqa: E402
from resgen.plan.network import NetworkPlan  # noqa: E402
from resgen.plan.planner import build_plan  # noqa: E402
from resgen.spec.models import InputSpec, Spec  # noqa: E402

SHIPPED = sorted(shipped_specs())

# One network per block kind and shortcut policy (and stem), at a small input.
KINDS = {
    "resnet18": "basic, projection",
    "resnet50": "bottleneck, projection",
    "resnet50_v1": "bottleneck strided on the 1x1, conv biases",
    "resnet50_v2": "preact bottleneck, subsample on stride-only changes, zero-padded pool",
    "preact_resnet164_cifar": "preact bottleneck, cifar stem without a pool",
    "resnet20_cifar": "basic, zero_pad (option A)",
    "plain20_cifar": "basic, no shortcut",
    "resnet50d": "deep stem, avg_projection (ResNet-D)",
    "preact_basic_always": "preact basic, always_projection, dropout (synthetic)",
    "resnetrs50": "ResNet-RS: conv stem pool, squeeze-and-excitation",
    "resnetblur18": "blur anti-aliasing in the stem and the blocks",
    "ecaresnet26t": "tiered stem, efficient channel attention",
    "resnet50_gn": "group norm",
    "test_resnet": "stages of mixed block kinds",
}
SYNTHETIC = {
    "preact_basic_always": {
        "name": "preact_basic_always",
        "num_classes": 10,
        "input": {"channels": 3, "size": 32},
        "stem": {"type": "cifar", "channels": 16},
        "block": {"type": "basic", "preact": True},
        "stages": [
            {"blocks": 2, "channels": 16},
            {"blocks": 1, "channels": 32, "stride": 2},
            {"blocks": 1, "channels": 64, "stride": 2},
        ],
        "shortcut": "always_projection",
        "dropout": 0.25,
    }
}


def spec_of(name: str) -> Spec:
    if name in SYNTHETIC:
        return Spec.model_validate(SYNTHETIC[name])
    return load_spec(spec_path(name))


def size_of(spec: Spec) -> int:
    return min(spec.input.size, 64)


def module_of(name: str, tmp_path: Path) -> ModuleType:
    """The generated file: the committed one for a shipped spec, else rendered here."""
    if name not in SYNTHETIC:
        return generated_module("torch", name)
    render_generated(spec_of(name), tmp_path, ("torch",))
    return generated_module("torch", name, tmp_path)


def planned(spec: Spec, size: int) -> NetworkPlan:
    return build_plan(spec.model_copy(update={"input": InputSpec(channels=3, size=size)}))


def randomized(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial norm statistics and affine parameters, in eval mode."""
    torch.manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d | torch.nn.GroupNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(params=list(KINDS), ids=list(KINDS))
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, ModuleType, Spec]:
    return request.param, module_of(request.param, tmp_path), spec_of(request.param)


def test_every_block_kind_and_shortcut_is_covered() -> None:
    specs = [spec_of(name) for name in KINDS]
    assert {(s.block.type, s.block.preact) for s in specs} == {
        (kind, preact) for kind in ("basic", "bottleneck") for preact in (False, True)
    }
    assert {s.shortcut for s in specs} == {
        "zero_pad",
        "projection",
        "always_projection",
        "avg_projection",
        "none",
    }
    assert any(s.stride_shortcut == "subsample" for s in specs)


def test_forward_is_the_head_of_the_features(kind: tuple[str, ModuleType, Spec]) -> None:
    name, module, spec = kind
    model = randomized(getattr(module, name)())
    size = size_of(spec)
    plan = planned(spec, size)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        logits = model(x)
    last = plan.stages[-1]
    assert features.shape == (2, last.out_channels, last.out_size, last.out_size)
    assert model.num_features == plan.head.in_features == last.out_channels
    torch.testing.assert_close(pooled, features.mean(dim=(2, 3)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logits, model.fc(pooled), rtol=0, atol=0)
    assert logits.shape == (2, spec.num_classes)


def test_no_classifier_returns_the_pooled_features(kind: tuple[str, ModuleType, Spec]) -> None:
    name, module, spec = kind
    full = randomized(getattr(module, name)())
    bare = getattr(module, name)(num_classes=0).eval()
    assert isinstance(bare.fc, torch.nn.Identity)
    assert bare.num_classes == 0
    weights = {k: v for k, v in full.state_dict().items() if not k.startswith("fc.")}
    assert list(bare.state_dict()) == list(weights)
    bare.load_state_dict(weights, strict=True)
    size = size_of(spec)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = full.forward_features(x).mean(dim=(2, 3))
        torch.testing.assert_close(bare(x), expected, rtol=1e-5, atol=1e-6)


def test_reset_classifier(kind: tuple[str, ModuleType, Spec]) -> None:
    name, module, spec = kind
    model = getattr(module, name)().eval()
    before = {k: v.shape for k, v in model.state_dict().items()}
    model.reset_classifier(7)
    assert isinstance(model.fc, torch.nn.Linear)
    assert (model.fc.in_features, model.fc.out_features) == (model.num_features, 7)
    assert model.num_classes == 7
    after = {k: v.shape for k, v in model.state_dict().items()}
    assert after == {**before, "fc.weight": (7, model.num_features), "fc.bias": (7,)}
    size = size_of(spec)
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 7)
    model.reset_classifier(0)
    assert isinstance(model.fc, torch.nn.Identity)
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, model.num_features)


def hooked(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The stem's output before its pool, then each stage's, as forward hooks see them."""
    seen: list[torch.Tensor] = []
    stages = [getattr(model, f"layer{i}") for i in range(1, 17) if hasattr(model, f"layer{i}")]
    first = getattr(model, "pool_pad", None) or getattr(model, "maxpool", None) or stages[0]
    handles = [first.register_forward_pre_hook(lambda _, args: seen.append(args[0].clone()))]
    handles += [s.register_forward_hook(lambda *a: seen.append(a[2].clone())) for s in stages]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return seen


def test_forward_intermediates_are_the_stem_and_stage_outputs(
    kind: tuple[str, ModuleType, Spec],
) -> None:
    name, module, spec = kind
    model = randomized(getattr(module, name)())
    size = size_of(spec)
    plan = planned(spec, size)
    x = torch.randn(2, 3, size, size)
    expected = hooked(model, x)
    with torch.no_grad():
        final, intermediates = model.forward_intermediates(x)
        features = model.forward_features(x)
    assert len(intermediates) == len(plan.stages) + 1
    stem = plan.stem
    shapes = [(2, stem.out_channels, stem.conv_out_size, stem.conv_out_size)]
    shapes += [(2, s.out_channels, s.out_size, s.out_size) for s in plan.stages]
    assert [tuple(t.shape) for t in intermediates] == shapes
    for ours, theirs in zip(intermediates, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    torch.testing.assert_close(final, features, rtol=0, atol=0)
    strides = [size // t.shape[-1] for t in intermediates]
    assert strides == list(plan.feature_strides)


def test_resnet50_intermediates_by_hand(tmp_path: Path) -> None:
    """224 / 2 = 112 after the 7x7/2 conv; the pool and stages 2-4 halve it each: 56 ... 7."""
    model = module_of("resnet50", tmp_path).resnet50().eval()
    with torch.no_grad():
        maps = model.forward_intermediates(torch.randn(1, 3, 224, 224), intermediates_only=True)
    assert [tuple(t.shape[1:]) for t in maps] == [
        (64, 112, 112),
        (256, 56, 56),
        (512, 28, 28),
        (1024, 14, 14),
        (2048, 7, 7),
    ]


def test_intermediate_indices_follow_timm(tmp_path: Path) -> None:
    """None: all; n: the last n; a sequence: those, negatives from the end; in forward order."""
    model = randomized(module_of("resnet18", tmp_path).resnet18())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        everything = model.forward_intermediates(x, intermediates_only=True)
        assert len(everything) == 5
        for indices, picked in [
            (2, [3, 4]),
            (5, [0, 1, 2, 3, 4]),
            ([0, -1], [0, 4]),
            ((3, 1), [1, 3]),
            ([-5], [0]),
        ]:
            final, maps = model.forward_intermediates(x, indices=indices)
            assert [m.shape for m in maps] == [everything[i].shape for i in picked]
            for ours, theirs in zip(maps, [everything[i] for i in picked], strict=True):
                torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
            torch.testing.assert_close(final, model.forward_features(x), rtol=0, atol=0)
        for wrong in (0, 6, -1, [5], [-6]):
            with pytest.raises(ValueError, match="out of range"):
                model.forward_intermediates(x, indices=wrong)


@pytest.mark.parametrize("name", SHIPPED)
def test_module_names_are_the_plans(name: str, tmp_path: Path) -> None:
    """Every conv, norm and linear sits at the path resgen.components.naming gives it, in plan order
    (built on the meta device: names and kinds, no weights, for the largest nets too)."""
    plan = build_plan(spec_of(name))
    factory = getattr(module_of(name, tmp_path), name)
    with torch.device("meta"):
        model = factory()
    layers = torch.nn.Conv2d | torch.nn.Conv1d | torch.nn.BatchNorm2d | torch.nn.GroupNorm
    norm = plan.norm.kind.torch_layer  # BatchNorm2d, GroupNorm, EvoNorm2dS0, ...
    found = {
        path: type(module).__name__
        for path, module in model.named_modules()
        if isinstance(module, layers | torch.nn.Linear) or type(module).__name__ == norm
    }
    expected = {conv.torch_name: plan.conv.kind.torch_layer for conv in plan.convs}
    expected |= {norm_.torch_name: norm for norm_ in plan.norms}
    expected |= {
        block.attention.conv_torch_name: "Conv1d"
        for block in plan.blocks
        if isinstance(block.attention, EfficientChannelAttention)
    }
    # timm's resnetv2.py classifier is a 1x1 conv (ClassifierHead with use_conv=True).
    expected[plan.head.torch_name] = "Conv2d" if plan.head.conv else "Linear"
    assert found == expected
