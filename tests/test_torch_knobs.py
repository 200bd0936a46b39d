"""The modern knobs in the committed generated/torch files, each against a hand computation.

Squeeze-and-excitation, ECA and the blur pool are recomputed here from their papers' formulas
with plain tensor arithmetic; stochastic depth is checked by its statistics and timm's linear
rule; anti-aliasing, group norm, activations, the ResNet-RS stem, SENet-154's shortcuts, mixed
stages and zero_init_last by the modules and shapes they must have. tests/test_references.py
compares whole networks with timm's (scripts/check_references.sh).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import ModuleType

import pytest
from checkpoints import randomize_torch
from helpers import GENERATED, generated_module, import_file, shipped_specs

torch = pytest.importorskip("torch")

from resgen.check.validate import load_spec  # noqa: E402
from resgen.plan.planner import build_plan  # noqa: E402
from resgen.rendering.render import render  # noqa: E402

F = torch.nn.functional


def rendered(tmp_path: Path, name: str, yaml: str) -> ModuleType:
    """A spec written here, rendered and imported (for knobs no zoo member sets)."""
    spec_file = tmp_path / f"{name}.yaml"
    spec_file.write_text(f"name: {name}\n{yaml}", encoding="utf-8")
    path = tmp_path / f"{name}.py"
    path.write_text(render(load_spec(spec_file), "torch", f"{name}.yaml"), encoding="utf-8")
    return import_file(path, f"knobs_{name}_{tmp_path.name}")


# --- attention -------------------------------------------------------------------------------


def test_se_module_by_hand() -> None:
    """x * sigmoid(W2 relu(W1 mean(x) + b1) + b2), per sample and channel (Hu et al. eq. 2-4)."""
    torch.manual_seed(0)
    se = generated_module("torch", "seresnet18").SEModule(16, 8)
    for parameter in se.parameters():
        torch.nn.init.normal_(parameter)
    x = torch.randn(3, 16, 5, 7)
    squeezed = x.mean(dim=(2, 3))  # 3 x 16
    hidden = torch.relu(squeezed @ se.fc1.weight.view(8, 16).T + se.fc1.bias)
    gate = torch.sigmoid(hidden @ se.fc2.weight.view(16, 8).T + se.fc2.bias)
    with torch.no_grad():
        torch.testing.assert_close(se(x), x * gate[:, :, None, None], rtol=1e-5, atol=1e-6)
    assert [name for name, _ in se.named_parameters()] == [
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]


def test_eca_module_by_hand() -> None:
    """A k-tap correlation across the channels of the mean, zero outside them (Wang et al.)."""
    torch.manual_seed(0)
    eca = generated_module("torch", "ecaresnet26t").EcaModule(5)
    torch.nn.init.normal_(eca.conv.weight)
    x = torch.randn(2, 12, 4, 3)
    mean = x.mean(dim=(2, 3))  # 2 x 12
    taps = eca.conv.weight.view(5)
    logits = torch.zeros(2, 12)
    for c in range(12):
        for k in range(5):
            source = c + k - 2
            if 0 <= source < 12:
                logits[:, c] += taps[k] * mean[:, source]
    with torch.no_grad():
        expected = x * torch.sigmoid(logits)[:, :, None, None]
        torch.testing.assert_close(eca(x), expected, rtol=1e-5, atol=1e-6)
    assert [name for name, _ in eca.named_parameters()] == ["conv.weight"]


@pytest.mark.parametrize("name", ["seresnet18", "ecaresnet26t", "resnetrs50"])
def test_attention_sits_after_the_last_norm(name: str) -> None:
    """Zeroing the attention's output leaves relu(shortcut): it gates the whole branch."""
    model = getattr(generated_module("torch", name), name)().eval()
    block = model.layer1[1]  # identity shortcut
    block.se.forward = lambda x: torch.zeros_like(x)
    x = torch.randn(1, block.conv1.in_channels, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(x), rtol=0, atol=0)


# --- anti-aliasing -----------------------------------------------------------------------------


def test_blur_pool_by_hand() -> None:
    """Reflect-pad by one, weigh each 3x3 window by [1, 2, 1] x [1, 2, 1] / 16, keep every other
    position; the filter is a constant: no parameter, nothing in the state_dict."""
    blur = generated_module("torch", "resnetblur18").BlurPool2d(2)
    assert list(blur.parameters()) == [] and list(blur.state_dict()) == []
    for size in (6, 7):
        x = torch.randn(1, 2, size, size)
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        taps = [1.0, 2.0, 1.0]
        out = (size + 1) // 2  # ceil(n / 2)
        expected = torch.zeros(1, 2, out, out)
        for i in range(out):
            for j in range(out):
                window = padded[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
                weights = torch.tensor([[a * b / 16 for b in taps] for a in taps])
                expected[:, :, i, j] = (window * weights).sum(dim=(2, 3))
        torch.testing.assert_close(blur(x), expected, rtol=1e-6, atol=1e-6)


def test_anti_aliasing_takes_the_stride_after_the_activation() -> None:
    """The strided block's 3x3 runs at stride 1, the pool halves; the shortcut is unchanged.

    Weights that look trained: these specs zero-init each branch's last norm, which would hide
    the branch (and the order inside it) from the comparison."""
    for name, pool in (("resnetaa34d", torch.nn.AvgPool2d), ("resnetblur18", "BlurPool2d")):
        model = randomize_torch(getattr(generated_module("torch", name), name)())
        block = model.layer2[0]
        assert block.conv1.stride == (1, 1)
        assert type(block.aa).__name__ == (pool if isinstance(pool, str) else pool.__name__)
        assert isinstance(model.layer2[1].aa, torch.nn.Identity)
        x = torch.randn(1, 64, 16, 16)
        with torch.no_grad():
            expected = block.aa(block.relu(block.bn1(block.conv1(x))))
            assert expected.shape == (1, 128, 8, 8)
            out = block.bn2(block.conv2(expected)) + block.downsample(x)
            torch.testing.assert_close(block(x), torch.relu(out), rtol=0, atol=0)
            assert block.bn2(block.conv2(expected)).abs().max() > 1e-2  # the branch counts
    # Bottlenecks: the 3x3 conv (stride 1), its norm and ReLU, then the pool, then the 1x1.
    for name in ("resnetaa50", "resnetblur50"):
        model = randomize_torch(getattr(generated_module("torch", name), name)())
        block = model.layer2[0]
        assert block.conv2.stride == (1, 1)
        x = torch.randn(1, 256, 16, 16)
        with torch.no_grad():
            inner = block.relu(block.bn1(block.conv1(x)))
            pooled = block.aa(block.relu(block.bn2(block.conv2(inner))))
            assert pooled.shape == (1, 128, 8, 8)
            out = block.bn3(block.conv3(pooled)) + block.downsample(x)
            torch.testing.assert_close(block(x), torch.relu(out), rtol=0, atol=0)
            assert block.bn3(block.conv3(pooled)).abs().max() > 1e-2  # the branch counts


def test_stems_of_the_anti_aliased_nets() -> None:
    avg = generated_module("torch", "resnetaa50").resnetaa50()
    assert isinstance(avg.maxpool, torch.nn.AvgPool2d) and avg.maxpool.kernel_size == 2
    blur = generated_module("torch", "resnetblur50").resnetblur50()
    assert isinstance(blur.maxpool[0], torch.nn.MaxPool2d) and blur.maxpool[0].stride == 1
    assert type(blur.maxpool[1]).__name__ == "BlurPool2d"


def test_average_anti_aliasing_refuses_odd_maps_like_timm() -> None:
    """At 80 px the last strided stage starts on a 5 x 5 map: the pool floors (2 x 2), the
    shortcut ceils (3 x 3); timm raises there too (scripts/check_references.sh checks both)."""
    model = generated_module("torch", "resnetaa50d").resnetaa50d().eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
        with pytest.raises(RuntimeError):
            model(torch.randn(1, 3, 80, 80))


# --- stochastic depth --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drop18(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """ResNet-18 with stochastic depth 0.2 (no zoo member sets it), rendered and imported."""
    base = shipped_specs()["resnet18"]
    folder = tmp_path_factory.mktemp("drop")
    yaml = f"extends: {base}\ninput: {{size: 64}}\ndrop_path_rate: 0.2\n"
    return rendered(folder, "drop18", yaml)


def test_drop_path_statistics(drop18: ModuleType) -> None:
    """Training: each sample's branch is kept whole, scaled by 1 / (1 - p), or zeroed whole,
    with probability p; eval: the identity. 4,000 samples at p = 0.25: 1,000 dropped on
    average, standard deviation sqrt(4000 * 0.25 * 0.75) = 27.4; 5 of them bound the count."""
    torch.manual_seed(0)
    drop = drop18.DropPath(0.25)
    x = torch.rand(4000, 3, 2, 2) + 0.5
    out = drop(x)
    kept = (out != 0).flatten(1)
    assert torch.all(kept.all(dim=1) | (~kept).all(dim=1)), "a sample was dropped in part"
    dropped = int((~kept.all(dim=1)).sum())
    assert abs(dropped - 1000) < 5 * math.sqrt(4000 * 0.25 * 0.75)
    survivors = kept.all(dim=1)
    torch.testing.assert_close(out[survivors], x[survivors] / 0.75, rtol=1e-6, atol=0)
    drop.eval()
    assert torch.equal(drop(x), x)
    assert torch.equal(drop18.DropPath(0.0).train()(x), x)


def test_drop_path_rates_follow_timms_rule(drop18: ModuleType) -> None:
    """Block i of the 8 drops with 0.2 * i / 7: 0 for the first, 0.2 for the last."""
    model = drop18.drop18()
    stages = (model.layer1, model.layer2, model.layer3, model.layer4)
    blocks = [block for stage in stages for block in stage]
    assert [block.drop_path.rate for block in blocks] == [0.2 * i / 7 for i in range(8)]
    assert blocks[0].drop_path.rate == 0.0 and blocks[-1].drop_path.rate == 0.2


def test_a_dropped_branch_leaves_the_shortcut(drop18: ModuleType) -> None:
    """In training, each sample of a block's output is relu(x) (branch dropped) or
    relu(x + branch / (1 - p)); norms held in eval so the branch is the same in both."""
    torch.manual_seed(0)
    model = drop18.drop18().eval()
    block = model.layer1[1]  # identity shortcut
    block.drop_path.rate = 0.5
    x = torch.randn(64, 64, 4, 4)
    with torch.no_grad():
        branch = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
        block.drop_path.train()
        out = block(x)
    dropped = torch.relu(x)
    kept = torch.relu(x + branch / 0.5)
    is_dropped = [torch.allclose(o, d) for o, d in zip(out, dropped, strict=True)]
    is_kept = [torch.allclose(o, k, atol=1e-6) for o, k in zip(out, kept, strict=True)]
    assert all(a != b for a, b in zip(is_dropped, is_kept, strict=True))
    assert 10 < sum(is_dropped) < 54  # p = 0.5 over 64 samples: 32, standard deviation 4


def test_drop_path_is_the_identity_in_eval(drop18: ModuleType) -> None:
    model = drop18.drop18().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


# --- norms, activations, stems, shortcuts, mixed stages ----------------------------------------


def test_group_norm_everywhere() -> None:
    model = generated_module("torch", "resnet50_gn").resnet50_gn()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(norms) == 53  # stem, 3 per block, 4 projections
    assert {(m.num_groups, m.eps) for m in norms} == {(32, 1e-5)}
    assert not [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not [k for k in model.state_dict() if "running" in k or "batches" in k]


@pytest.mark.parametrize(
    ("activation", "module", "approximate"),
    [("silu", "SiLU", None), ("gelu", "GELU", "none"), ("gelu_tanh", "GELU", "tanh")],
)
def test_activation_everywhere_but_inside_squeeze_excitation(
    tmp_path: Path, activation: str, module: str, approximate: str | None
) -> None:
    base = shipped_specs()["seresnet18"]
    name = f"act_{activation}"
    module_ = rendered(tmp_path, name, f"extends: {base}\nactivation: {activation}\n")
    net = getattr(module_, name)()
    kinds = {
        type(m).__name__ for m in net.modules() if type(m).__name__ in ("ReLU", "SiLU", "GELU")
    }
    se_acts = {type(m.relu).__name__ for m in net.modules() if type(m).__name__ == "SEModule"}
    assert se_acts == {"ReLU"}  # SE keeps ReLU inside (timm)
    assert kinds == {module, "ReLU"}
    assert type(net.act).__name__ == module and type(net.layer1[0].act).__name__ == module
    if approximate:
        assert {m.approximate for m in net.modules() if type(m).__name__ == "GELU"} == {approximate}
    with torch.no_grad():
        assert torch.isfinite(net.eval()(torch.randn(1, 3, 64, 64))).all()


def test_resnet_rs_stem_pool_is_a_strided_conv() -> None:
    model = generated_module("torch", "resnetrs50").resnetrs50()
    conv, norm, act = model.maxpool
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (
        64,
        64,
        (3, 3),
        (2, 2),
    )
    assert isinstance(norm, torch.nn.BatchNorm2d) and isinstance(act, torch.nn.ReLU)


def test_senet154_shortcuts_and_narrow_first_convs() -> None:
    with torch.device("meta"):
        model = generated_module("torch", "senet154").senet154()
    assert model.layer1[0].downsample[0].kernel_size == (1, 1)  # stride 1: 1x1
    for stage in (model.layer2, model.layer3, model.layer4):
        conv = stage[0].downsample[0]
        assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (2, 2), (1, 1))
    block = model.layer3[0]  # width 64 x 16 = 1024; first 1x1 at half of it
    assert (block.conv1.out_channels, block.conv2.in_channels, block.conv2.out_channels) == (
        512,
        512,
        1024,
    )


def test_mixed_stages_and_blocks_owning_zero_init_last() -> None:
    module = generated_module("torch", "test_resnet")
    model = module.test_resnet()
    kinds = [
        type(stage[0]).__name__
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4)
    ]
    assert kinds == ["BasicBlock", "BasicBlock", "Bottleneck", "BasicBlock"]
    assert model.num_features == 96 and model.fc.in_features == 96
    for block in (model.layer1[0], model.layer2[0], model.layer4[0]):
        assert torch.count_nonzero(block.bn2.weight) == 0
        assert torch.all(block.bn1.weight == 1)
    assert torch.count_nonzero(model.layer3[0].bn3.weight) == 0
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


# --- what each file holds ----------------------------------------------------------------------

HELPERS = {
    "SEModule": "squeeze_excitation",
    "EcaModule": "efficient_channel_attention",
    "BlurPool2d": "blur_pool",
    "DropPath": "drop_path",
    "def group_norm": "group_norm",
    "def batch_norm": "batch_norm",
}


@pytest.mark.parametrize("name", sorted(shipped_specs()))
def test_a_file_holds_only_what_its_spec_uses(name: str) -> None:
    """A helper class or function appears exactly where the plan's page names it, and no file
    grows past ~510 lines (~330 for the network: SENet-154's, with its STAGES rows in keywords,
    is the longest; ~115 for the backbone interface: FEATURE_INFO, PRETRAINED_CFG,
    features_only, freezing and checkpointing), ~60 more for dilation: stage_strides, and
    block signatures and convs with first_dilation and dilation, one argument a line), ~20 more
    where a ResNet-D selective-kernel network (skresnet50d: 521) adds timm's ConvNormAct,
    SelectiveKernelAttn and SelectiveKernel (~90 lines) to its own."""
    from resgen.rendering.page import torch_page

    text = (GENERATED / "torch" / f"{name}.py").read_text(encoding="utf-8")
    page = torch_page(build_plan(load_spec(shipped_specs()[name])))
    helpers = {*page.helpers, *page.late_helpers, *page.norm.defines}
    helpers |= {kind.defines[0] for kind in page.attention}
    for marker, helper in HELPERS.items():
        defined = bool(re.search(rf"^(class|def) {marker.split()[-1]}\b", text, re.M))
        assert defined == (helper in helpers), (marker, helpers)
    assert len(text.splitlines()) <= 530


# --- combinations no shipped spec holds ----------------------------------------------------------

SMALL = "num_classes: 10\ninput: {channels: 3, size: 64}\n"
STAGES_3 = (
    "stages:\n  - {blocks: 1, channels: 16}\n  - {blocks: 2, channels: 32, stride: 2}\n"
    "  - {blocks: 1, channels: 64, stride: 2}\n"
)
COMBINATIONS = {
    # pre-activation basic: cifar stem, SE, blur anti-aliasing, stochastic depth, narrow first
    # conv, GELU, group norm
    "preact_basic_all": "stem: {type: cifar, channels: 16}\n"
    "block: {type: basic, preact: true, reduce_first: 2, attention: {type: se, ratio: 0.25}}\n"
    "anti_alias: blur\ndrop_path_rate: 0.1\nactivation: gelu\nnorm: {type: group, groups: 4}\n",
    # pre-activation bottleneck: tiered stem, ECA, average anti-aliasing, SiLU, keras-style last
    # stride and stride-only subsampling
    "preact_bottleneck_all": "stem: {type: deep, widths: [8, 8, 16]}\n"
    "block: {type: bottleneck, preact: true, reduce_first: 2, stride_at: last, attention: "
    "{type: eca, kernel_size: 3}}\nanti_alias: avg\nactivation: silu\ndrop_path_rate: 0.2\n"
    "stride_shortcut: subsample\n",
    # basic, ResNet-RS pool with blur anti-aliasing between its conv and norm, ECA
    "basic_conv_pool_blur": "stem: {type: deep, channels: 16, pool: conv}\n"
    "block: {type: basic, reduce_first: 2, attention: {type: eca}}\nanti_alias: blur\n"
    "zero_init_residual: true\n",
    # grouped bottleneck, 3x3 projections on every block, ResNet-RS pool with average
    # anti-aliasing, fixed SE width, conv biases
    "bottleneck_options": "stem: {type: imagenet, channels: 16, pool: conv}\n"
    "block: {type: bottleneck, groups: 4, width_per_group: 16, attention: {type: se, "
    "hidden_channels: 6}}\nshortcut: always_projection\nprojection_kernel: 3\n"
    "anti_alias: avg\nconv_bias: all\n",
    # pre-activation stages of both kinds, option A shortcuts, SE, GELU (tanh)
    "mixed_preact": "stem: {type: cifar, channels: 16}\n"
    "block: {type: basic, preact: true, attention: {type: se}}\nshortcut: zero_pad\n"
    "activation: gelu_tanh\ndrop_path_rate: 0.1\n",
}


def combination(name: str) -> str:
    stages = STAGES_3
    if name == "mixed_preact":  # the middle stage: bottlenecks of width 8, 32 outputs
        bottleneck = "{blocks: 2, channels: 8, stride: 2, block_type: bottleneck}"
        stages = stages.replace("{blocks: 2, channels: 32, stride: 2}", bottleneck)
    return SMALL + COMBINATIONS[name] + stages


@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_combinations_render_clean_and_match_their_plan(tmp_path: Path, name: str) -> None:
    """Rendered, ruff-clean, the plan's state_dict and parameter count, every parameter
    reached by the gradient of a forward pass, in training and eval."""
    from helpers import plan_state_dict, ruff_clean

    spec_file = tmp_path / f"{name}.yaml"
    spec_file.write_text(f"name: {name}\n{combination(name)}", encoding="utf-8")
    spec = load_spec(spec_file)
    plan = build_plan(spec)
    path = tmp_path / f"{name}.py"
    path.write_text(render(spec, "torch", f"{name}.yaml"), encoding="utf-8")
    ruff_clean(path)
    torch.manual_seed(0)
    model = getattr(import_file(path, f"combo_{name}"), name)()
    state = [(key, list(value.shape)) for key, value in model.state_dict().items()]
    assert state == plan_state_dict(plan)
    assert sum(p.numel() for p in model.parameters()) == plan.params
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert out.shape == (2, 10)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():
        assert torch.equal(model.eval()(x), model(x))
