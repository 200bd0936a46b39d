"""RegNet-Z (timm regnet.py's regnetz_005, regnetz_040, regnetz_040_h) on the RegNet support:
``RegNetCfg(downsample=None, linear_out=True, bottle_ratio=4.0, se_ratio=0.25, num_features,
act_layer='silu')`` as spec fields (``shortcut: identity``, ``block.linear_out``,
``block.bottle_ratio``, ``final_conv``, ``final_act``), against independent truths: timm's
state_dict shapes in tests/data/timm_families.json, one block and the head counted by hand
from timm's code, and the PyTorch file's own behaviour where timm's code says what it must be
(no shortcut where the shape changes, no activation after the sum, the final activation
leaving the last map as taken). Keys, shapes, strict loading and outputs against timm itself:
tests/test_families_listing.py and tests/test_families_reference.py (``-k regnetz``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO, family_models, write_spec

from resgen.check.validate import load_spec
from resgen.errors import SpecError
from resgen.plan.planner import build_plan

NAMES = ("regnetz_005", "regnetz_040", "regnetz_040_h")


def plan_of(name: str):
    return build_plan(load_spec(REPO / "specs" / f"{name}.yaml"))


def test_one_block_by_hand() -> None:
    """regnetz_005's s1.b1 (timm's Bottleneck(32, 16, stride 2, bottle_ratio 4, group_size 4,
    se_ratio 0.25)): bottleneck int(round(16 * 4)) = 64 in 64 / 4 = 16 groups; conv1 1x1
    32 -> 64 (2048) and bn (128); conv2 3x3 with 4 channels a group (9 * 4 * 64 = 2304) and bn
    (128); SE of int(round(32 * 0.25)) = 8 hidden from the block's input: 64 * 8 + 8 and
    8 * 64 + 64; conv3 1x1 64 -> 16 (1024) and bn (32). MACs: conv1 on 112 x 112, the rest on
    56 x 56, the SE's on one pixel. The shape changes and downsample is None: no shortcut."""
    block = plan_of("regnetz_005").stages[0].blocks[0]
    params = 2048 + 128 + 2304 + 128 + (512 + 8) + (512 + 64) + 1024 + 32
    assert params == 6760
    assert sum(layer.params for layer in block.branch.layers) == params
    assert block.macs == 2048 * 112 * 112 + 2304 * 56 * 56 + 512 + 512 + 1024 * 56 * 56
    assert block.shortcut == "none" and not block.shortcut_convs
    assert block.branch.convs[1].groups == 16


def test_the_head_by_hand() -> None:
    """final_conv ConvNormAct(256, 1024) and the 1024 -> 1000 classifier (regnetz_005);
    regnetz_040's num_features 0 leaves the last stage's 528 and no weights but the
    classifier's; regnetz_040_h's ConvNormAct(528, 1536)."""
    head = plan_of("regnetz_005").head
    assert head.params == 256 * 1024 + 2 * 1024 + 1024 * 1000 + 1000
    assert head.macs == 256 * 1024 * 7 * 7 + 1024 * 1000
    head = plan_of("regnetz_040").head
    assert (head.in_features, head.final_conv, head.final_act) == (528, None, True)
    assert head.params == 528 * 1000 + 1000
    head = plan_of("regnetz_040_h").head
    assert head.params == 528 * 1536 + 2 * 1536 + 1536 * 1000 + 1000


@pytest.mark.parametrize("name", NAMES)
def test_the_rule_s_stages_are_timm_s(name: str) -> None:
    """Every stage's width, depth, inner (bottleneck) width and group width as the spec's rule
    derives them, read off timm's state_dict shapes: conv3's output, the b<k> count, conv2's
    output and its per-group input; the final conv's shape where there is one."""
    sd = family_models()[name]["state_dict"]
    plan = plan_of(name)
    for s, stage in enumerate(plan.stages, start=1):
        blocks = {key.split(".")[1] for key in sd if key.startswith(f"s{s}.")}
        inner, per_group = sd[f"s{s}.b1.conv2.conv.weight"][:2]
        first = stage.blocks[0]
        assert sd[f"s{s}.b1.conv3.conv.weight"][0] == stage.out_channels
        assert len(blocks) == len(stage.blocks)
        assert inner == first.width == 4 * stage.out_channels  # bottle_ratio 4: wider inside
        assert per_group == first.branch.convs[1].in_channels // first.branch.convs[1].groups
        assert sd[f"s{s}.b1.se.fc1.weight"][0] == round(first.in_channels * 0.25)
    final = plan.head.final_conv
    listed = sd.get("final_conv.conv.weight")
    assert (listed and tuple(listed)) == (final and (final.out_channels, final.in_channels, 1, 1))


@pytest.mark.parametrize("name", NAMES)
def test_only_blocks_of_unchanged_shape_are_residual(name: str) -> None:
    """timm's create_shortcut with downsample None: identity where in == out and stride 1,
    else none; the first block of every stage here changes width and stride."""
    for stage in plan_of(name).stages:
        kinds = [block.shortcut for block in stage.blocks]
        assert kinds == ["none"] + ["identity"] * (len(kinds) - 1)


TINY = (
    "name: tiny_regnetz\nnaming: regnet\nnum_classes: 5\ninput: {size: 16}\n"
    "stem: {type: regnet, channels: 16}\n"
    "regnet: {depth: 4, w0: 8, wa: 8, wm: 2}\n"
    "block: {type: regnet, group_width: 8, bottle_ratio: 4, se_ratio: 0.25, linear_out: true}\n"
    "shortcut: identity\nactivation: silu\n"
)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            TINY + "final_conv: 64\nfinal_act: true\n",
            11,
            "final_act: final_conv ends in its own activation; remove final_act",
        ),
        (
            TINY + "zero_init_residual: true\n",
            10,
            "zero_init_residual: a block whose shape changes has no identity shortcut",
        ),
        (
            "name: net\nstem: {type: cifar, channels: 16}\nblock: {type: basic, preact: true}\n"
            "stages: [{blocks: 1, channels: 16}]\nshortcut: identity\n",
            5,
            "shortcut: identity shortcuts are for post-activation blocks",
        ),
        (
            "name: net\nstem: {type: cifar, channels: 16}\nblock: {type: basic, preact: true}\n"
            "stages: [{blocks: 1, channels: 16}]\nfinal_act: true\n",
            5,
            "final_act: pre-activation networks end in their final norm and activation",
        ),
    ],
)
def test_bad_heads_and_shortcuts_are_one_located_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    problems = [str(problem) for problem in caught.value.problems]
    assert all(f"net.yaml:{line}:" in problem for problem in problems), problems
    assert any(message in problem for problem in problems), problems


def _tiny(tmp_path: Path, extra: str):
    from helpers import generated_factory, render_generated, ruff_clean

    spec = load_spec(write_spec(tmp_path, TINY + extra))
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / "tiny_regnetz.py", tmp_path / "keras" / "tiny_regnetz.py")
    return spec, generated_factory


@pytest.mark.parametrize("extra", ["final_conv: 64\n", "final_act: true\n"])
def test_the_keras_twin_equals_the_torch_file(tmp_path: Path, extra: str) -> None:
    """Plain first blocks, an identity shortcut in the last stage, linear outputs, SE, the
    final conv or the final activation, through resgen.weights.transfer."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_transfer import check_round_trip

    spec, factory = _tiny(tmp_path, extra)
    torch_factory = factory("torch", "tiny_regnetz", tmp_path)
    keras_factory = factory("keras", "tiny_regnetz", tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 16) < 1e-4


def test_the_torch_file_does_what_timm_s_code_says(tmp_path: Path) -> None:
    """linear_out: a block's output is the sum itself (negative values survive); downsample
    None: a block whose shape changes returns its branch alone; the final activation (timm's
    non-inplace SiLU) leaves the last map of forward_intermediates as it was taken; stochastic
    depth never drops a block without a shortcut (timm applies it only to the sum)."""
    torch = pytest.importorskip("torch")
    _, factory = _tiny(tmp_path, "final_act: true\ndrop_path_rate: 0.5\n")
    torch.manual_seed(0)
    model = factory("torch", "tiny_regnetz", tmp_path)().eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        assert maps[-1].min() < 0  # no activation after the last block's sum
        torch.testing.assert_close(final, torch.nn.functional.silu(maps[-1]))
        plain, residual = model.s2.b1, model.s3.b2  # 8 -> 16 at stride 2; 32 -> 32
        assert (plain.residual, residual.residual) == (False, True)
        branch = plain.conv3(plain.se(plain.conv2(plain.conv1(maps[1]))))
        torch.testing.assert_close(plain(maps[1]), branch)
        for block in (plain, residual):  # drop path in training, the norms' statistics fixed
            block.train()
            for module in block.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.eval()
        assert all(torch.equal(plain(maps[1]), branch) for _ in range(8))
        kept = residual(maps[3])
        assert not all(torch.equal(residual(maps[3]), kept) for _ in range(8))
