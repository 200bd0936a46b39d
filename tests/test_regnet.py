"""RegNet as a rule (issue 20 part 2): a few numbers generate the stages, against independent
truths: the paper's and pycls' published stage widths and depths, timm's model listing
(tests/data/timm_families.json: widths, depths and group widths read off the state_dict shapes
of every RegNet-X and RegNet-Y), and timm's parameters and multiply-adds for the regnet family's
specs (written from timm's ``model_cfgs``: depth, w0, wa, wm, group width, SE ratio; shipped in
specs/), planned without any framework. Keys, shapes
and outputs against timm: tests/test_families_listing.py and tests/test_families_reference.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import REPO, family_models, listing_macs, plan_counts_at_224, write_spec

from resgen.check.validate import load_spec
from resgen.components import regnet_rule as regnet
from resgen.errors import SpecError
from resgen.plan.planner import build_plan

# The plain RegNet-X and -Y (regnety_040_sgn, which extends regnety_040, and the pre-activation
# regnetv are held to timm's listing by tests/test_families_listing.py).
PLAIN = re.compile(r"regnet[xy]_\d+(_tv)?")
PATHS = {p.stem: p for p in (REPO / "specs").glob("regnet*.yaml") if PLAIN.fullmatch(p.stem)}
NAMES = sorted(PATHS)
X_AND_Y = [name for name in NAMES if not name.startswith("regnetz")]  # RegNet-Z: test_regnetz.py


# Radosavovic et al. 2020 (arXiv 2003.13678), appendix / pycls model zoo configs
# (configs/dds_baselines/regnetx/RegNetX-*.yaml): DEPTH, W0, WA, WM, GROUP_W, and the stage
# widths and depths pycls prints for them.
PUBLISHED = {
    "RegNetX-200MF": ((13, 24, 36.44, 2.49, 8), (24, 56, 152, 368), (1, 1, 4, 7)),
    "RegNetX-400MF": ((22, 24, 24.48, 2.54, 16), (32, 64, 160, 384), (1, 2, 7, 12)),
    "RegNetX-600MF": ((16, 48, 36.97, 2.24, 24), (48, 96, 240, 528), (1, 3, 5, 7)),
    "RegNetX-800MF": ((16, 56, 35.73, 2.28, 16), (64, 128, 288, 672), (1, 3, 7, 5)),
    "RegNetY-200MF": ((13, 24, 36.44, 2.49, 8), (24, 56, 152, 368), (1, 1, 4, 7)),
    "RegNetY-400MF": ((16, 48, 27.89, 2.09, 8), (48, 104, 208, 440), (1, 3, 6, 6)),
    "RegNetY-800MF": ((14, 56, 38.84, 2.4, 16), (64, 128, 320, 768), (1, 3, 8, 2)),
}


@pytest.mark.parametrize("model", list(PUBLISHED))
def test_the_papers_stage_widths_and_depths(model: str) -> None:
    (depth, w0, wa, wm, group), widths, depths = PUBLISHED[model]
    stages = regnet.stages(depth, w0, wa, wm, group)
    assert tuple(stage.width for stage in stages) == widths
    assert tuple(stage.depth for stage in stages) == depths


def _timm_cfgs() -> dict[str, dict[str, float]]:
    """timm's ``model_cfgs`` as the specs spell them (the spec files, read as text)."""
    out = {}
    for path in PATHS.values():
        text = path.read_text(encoding="utf-8")
        numbers = dict(re.findall(r"(\w+): ([\d.]+)", text))
        out[path.stem] = numbers | {"torchvision": "rounding: torchvision" in text}
    return out


def _listed_stages(name: str) -> list[tuple[int, int, int]]:
    """(width, depth, group width) of each stage, read off timm's state_dict shapes."""
    sd = family_models()[name]["state_dict"]
    out = []
    for s in range(1, 5):
        blocks = {key.split(".")[1] for key in sd if key.startswith(f"s{s}.")}
        width, per_group = sd[f"s{s}.b1.conv3.conv.weight"][0], sd[f"s{s}.b1.conv2.conv.weight"][1]
        out.append((width, len(blocks), per_group))
    return out


@pytest.mark.parametrize("name", X_AND_Y)
def test_every_regnet_x_and_y_of_timms_listing(name: str) -> None:
    cfg = _timm_cfgs()[name]
    stages = regnet.stages(
        int(cfg["depth"]),
        int(cfg["w0"]),
        float(cfg["wa"]),
        float(cfg["wm"]),
        int(cfg["group_width"]),
        rounding="torchvision" if cfg["torchvision"] else "nearest",
    )
    assert [(s.width, s.depth, s.group_width) for s in stages] == _listed_stages(name)


def test_the_listing_has_every_plain_regnet_x_and_y() -> None:
    """The regnet specs cover timm's RegNet-X and -Y, regnety_2560 (a 10,444-channel stage)
    included."""
    listed = {n for n in family_models() if PLAIN.fullmatch(n)}
    assert listed == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_params_and_macs_equal_timms(name: str) -> None:
    """At 224 px, the size timm's listing counts at (regnety_640, 1280 and 2560 default to 384)."""
    entry = family_models()[name]
    assert plan_counts_at_224(name) == (entry["params"], listing_macs(entry))


def test_the_rule_is_the_spec_s_stages() -> None:
    """Six numbers written as a regnet section plan the same network as the stages listed."""
    spec = load_spec(PATHS["regnetx_002"])
    plan = build_plan(spec)
    assert [(s.out_channels, s.num_blocks) for s in plan.stages] == [
        (24, 1),
        (56, 1),
        (152, 4),
        (368, 7),
    ]
    assert [s.blocks[0].branch.convs[1].groups for s in plan.stages] == [3, 7, 19, 46]


RULE = "regnet: {depth: 13, w0: 24, wa: 36.44, wm: 2.49}\n"
BLOCK = "block: {type: regnet, group_width: 8}\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "name: net\nstem: {type: regnet, channels: 32}\n" + BLOCK,
            1,
            "stages: required field is missing; list the stages, or give a regnet section",
        ),
        (
            "name: net\n" + RULE + BLOCK + "stages: [{blocks: 1, channels: 8}]\n",
            2,
            "regnet: the regnet section generates the stages; remove one of the two",
        ),
        (
            "name: net\n" + RULE + "block: {type: bottleneck}\n",
            3,
            "block.type: the regnet section generates RegNet blocks",
        ),
        (
            "name: net\nregnet: {depth: 13, w0: 20, wa: 36.44, wm: 2.49}\n" + BLOCK,
            2,
            "regnet.w0: w0 must be a multiple of quant (8), not 20",
        ),
        (
            "name: net\n" + BLOCK + "stages: [{blocks: 1, channels: 20}]\n",
            3,
            "stages[0].channels: the bottleneck width 20 is not a multiple of block.group_width 8",
        ),
        (
            "name: net\nregnet: {depth: 13, w0: 24, wa: 36.44, wm: 2.49}\n"
            "block: {type: regnet, bottle_ratio: 0.01}\n",
            3,
            "block.bottle_ratio: a stage's bottleneck (width x bottle_ratio) would have no channel",
        ),
        (
            "name: net\nregnet: {depth: 1000, w0: 8, wa: 8192, wm: 1.0001}\n" + BLOCK,
            2,
            "regnet: these numbers generate 1000 stages, more than 16",
        ),
        (
            "name: net\nregnet: {depth: 1000, w0: 8192, wa: 0, wm: 64}\n" + BLOCK,
            2,
            "regnet: 134,798,862,632 parameters exceed resgen's bound",
        ),
        (
            "name: net\nnaming: regnet\nstem: {type: deep}\n" + RULE + BLOCK,
            2,
            "naming: regnet names one stem conv (stem.conv), but this stem has 3",
        ),
        (
            "name: net\nnaming: regnet\nshortcut: avg_projection\n" + RULE + BLOCK,
            2,
            "naming: regnet names a shortcut of one 1x1 conv and its norm",
        ),
        (
            "name: net\nnaming: regnet\nprojection_kernel: 3\n"
            + RULE
            + "block: {type: regnet, group_width: 8, preact: true}\n",
            2,
            "naming: regnet names a shortcut of one 1x1 conv and its norm",
        ),
        (
            "name: net\n"
            + RULE
            + "zero_init_residual: true\n"
            + "block: {type: regnet, group_width: 8, preact: true}\n",
            3,
            "zero_init_residual: ",
        ),
    ],
)
def test_bad_rules_are_one_located_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    problems = [str(problem) for problem in caught.value.problems]
    assert all(f"net.yaml:{line}:" in problem for problem in problems), problems
    assert any(message in problem for problem in problems), problems


def test_summary_prints_the_derived_stages() -> None:
    from helpers import run_resgen

    result = run_resgen("summary", str(PATHS["regnetx_002"]))
    assert result.returncode == 0, result.stderr
    assert "widths 24, 56, 152, 368; depths 1, 1, 4, 7; group widths 8, 8, 8, 8" in result.stdout


def test_the_keras_twin_of_a_regnet_y_equals_its_torch_file(tmp_path: Path) -> None:
    """SE on, two stages (a projection and an identity shortcut), through
    resgen.weights.transfer."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from helpers import generated_factory, render_generated, ruff_clean
    from test_transfer import check_round_trip

    path = write_spec(
        tmp_path,
        "name: tiny_regnety\nnum_classes: 5\ninput: {size: 16}\n"
        "stem: {type: regnet, channels: 16}\n"
        "regnet: {depth: 3, w0: 16, wa: 16, wm: 2}\n"
        "block: {type: regnet, group_width: 8, se_ratio: 0.25}\n",
    )
    spec = load_spec(path)
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / "tiny_regnety.py", tmp_path / "keras" / "tiny_regnety.py")
    torch_factory = generated_factory("torch", "tiny_regnety", tmp_path)
    keras_factory = generated_factory("keras", "tiny_regnety", tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 16) < 1e-4


TINY_REGNETV = (
    "name: tiny_regnetv\nnum_classes: 5\ninput: {size: 16}\nnaming: regnet\nactivation: silu\n"
    "stem: {type: regnet, channels: 16}\n"
    "regnet: {depth: 3, w0: 16, wa: 16, wm: 2}\n"
    "block: {type: regnet, group_width: 8, se_ratio: 0.25, preact: true}\n"
)


@pytest.mark.parametrize(
    ("shortcut", "output_stride"),
    [("projection", 32), ("avg_projection", 32), ("avg_projection", 8)],
)
def test_the_keras_twin_of_a_pre_activation_regnet_equals_its_torch_file(
    tmp_path: Path, shortcut: str, output_stride: int
) -> None:
    """timm's regnetv layout on two stages: the bare stem conv, norm and SiLU before each conv,
    the shortcut from the pre-activated input (regnetv_040's 1x1 ``downsample``, regnetv_064's
    pool and 1x1 ``downsample.1``), the final activation; through resgen.weights.transfer. At
    output stride 8 the second stage dilates, and its shortcut pool reads the block's first
    dilation, as timm's regnet.py does (against timm: tests/test_dilation_reference.py)."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from helpers import generated_factory, render_generated, ruff_clean
    from test_transfer import check_round_trip

    text = TINY_REGNETV + f"shortcut: {shortcut}\noutput_stride: {output_stride}\n"
    path = write_spec(tmp_path, text)
    spec = load_spec(path)
    render_generated(spec, tmp_path)
    ruff_clean(tmp_path / "torch" / "tiny_regnetv.py", tmp_path / "keras" / "tiny_regnetv.py")
    torch_factory = generated_factory("torch", "tiny_regnetv", tmp_path)
    keys = list(torch_factory().state_dict())
    pooled = shortcut == "avg_projection"
    assert keys[0] == "stem.weight" and ("s1.b1.downsample.1.weight" in keys) == pooled
    assert ("s1.b1.downsample.weight" in keys) != pooled
    keras_factory = generated_factory("keras", "tiny_regnetv", tmp_path)
    assert check_round_trip(torch_factory, keras_factory, spec, 16) < 1e-4


def test_the_final_activation_leaves_the_returned_maps_alone(tmp_path: Path) -> None:
    """timm's pre-activation RegNet ends in the activation alone (``final_conv``): the features
    are SiLU of the last stage's map, which forward_intermediates returns untouched."""
    torch = pytest.importorskip("torch")
    from helpers import generated_factory, render_generated

    spec = load_spec(write_spec(tmp_path, TINY_REGNETV))
    render_generated(spec, tmp_path, ("torch",))
    model = generated_factory("torch", "tiny_regnetv", tmp_path)().eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        torch.testing.assert_close(final, torch.nn.functional.silu(maps[-1]))
        assert (maps[-1] < 0).any()  # not activated in place
        torch.testing.assert_close(model.forward_features(x), final)


# timm's RegNet-Z (model_cfgs: depth, w0, wa, wm, group_size, bottle_ratio 4: an inverted
# bottleneck four times the stage's width), written out here from timm's code; their specs
# (linear_out, no shortcut where the shape changes, the final conv) are tested in
# tests/test_regnetz.py.
REGNET_Z = {
    "regnetz_005": (21, 16, 10.7, 2.51, 4, 4.0),
    "regnetz_040": (28, 48, 14.5, 2.226, 8, 4.0),
    "regnetz_040_h": (28, 48, 14.5, 2.226, 8, 4.0),
}


@pytest.mark.parametrize("name", list(REGNET_Z))
def test_the_rule_with_a_bottleneck_ratio_gives_regnet_zs_stages(name: str) -> None:
    stages = regnet.stages(*REGNET_Z[name])
    sd = family_models()[name]["state_dict"]
    for s, stage in enumerate(stages, start=1):
        blocks = {key.split(".")[1] for key in sd if key.startswith(f"s{s}.")}
        inner, per_group = sd[f"s{s}.b1.conv2.conv.weight"][:2]
        assert sd[f"s{s}.b1.conv3.conv.weight"][0] == stage.width
        assert (len(blocks), per_group) == (stage.depth, stage.group_width)
        assert inner == regnet.inner_width(stage.width, 4.0)
