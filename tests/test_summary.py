"""`resgen summary` against published figures, never against resgen's own output.

Every figure below is a published one, copied from the source named beside it (torchvision's
model pages, keras.applications' trainable counts, He et al. 2015 and 2016, or, where noted,
the library's own documentation); the reference facts committed with the tests live in
``tests/data/`` (``torchvision_state_dicts.json`` holds torchvision's parameter counts too,
``timm_resnet_zoo.json`` timm's counts and MACs). MACs are multiply-accumulates of the
convolutions and the classifier (torchvision's "GFLOPS" and He et al.'s Table 1 "FLOPs" count
exactly that); a published MACs figure is matched to the digits it was published with.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from helpers import REPO, listing_macs, spec_path

# name: (parameters, published MACs as printed, the unit that string is in)
PUBLISHED: dict[str, tuple[int, str | None, float]] = {
    # torchvision model pages: num_params and GFLOPS (= GMACs) at 224.
    "resnet18": (11_689_512, "1.814", 1e9),  # He et al. Table 1: 1.814 G exactly, too
    "resnet34": (21_797_672, "3.664", 1e9),  # He et al. Table 1: 3.664 G
    "resnet50": (25_557_032, "4.089", 1e9),
    "resnet101": (44_549_160, "7.801", 1e9),
    "resnet152": (60_192_808, "11.514", 1e9),
    "resnext50_32x4d": (25_028_904, "4.230", 1e9),
    "resnext101_32x8d": (88_791_336, "16.414", 1e9),
    "wide_resnet50_2": (68_883_240, "11.398", 1e9),
    "wide_resnet101_2": (126_886_696, "22.753", 1e9),
    # torchvision's ResNeXt101_64X4D_Weights page (not in the reference table): 83,455,272
    # parameters, 15.46 GFLOPS.
    "resnext101_64x4d": (83_455_272, "15.46", 1e9),
    # keras.applications, weights=None: the trainable count (count_params() adds the batch-norm
    # moving statistics, which PyTorch keeps as buffers); GMACs from the reference table.
    "resnet50_v1": (25_583_592, "3.858", 1e9),
    "resnet101_v1": (44_601_832, "7.570", 1e9),
    "resnet152_v1": (60_268_520, "11.282", 1e9),
    "resnet50_v2": (25_568_360, "3.482", 1e9),
    "resnet101_v2": (44_577_896, "7.194", 1e9),
    "resnet152_v2": (60_236_904, "10.907", 1e9),
    # He et al. 2015, section 4.2 (option A), exact counts and MACs at 32x32.
    "resnet20_cifar": (269_722, "40.6", 1e6),
    "resnet32_cifar": (464_154, "68.9", 1e6),
    "resnet44_cifar": (658_586, "97.2", 1e6),
    "resnet56_cifar": (853_018, "125.5", 1e6),
    "resnet110_cifar": (1_727_962, "252.9", 1e6),
    "resnet1202_cifar": (19_421_274, "2829", 1e6),
    # The plain baselines have "the same number of parameters, depth, width, and computational
    # cost" as their residual twins (He et al. 2015, sec. 4.1): option A adds nothing.
    "plain20_cifar": (269_722, "40.6", 1e6),
    "plain56_cifar": (853_018, "125.5", 1e6),
    # He et al. 2016: pre-activation ResNet-164, batch-norm affine weights included.
    "preact_resnet164_cifar": (1_703_258, None, 1e6),
    # timm's resnet50d. timm's published 4.35 GMACs comes from a profiler that also counts
    # pooling and normalisation, a different convention, so only parameters are compared.
    "resnet50d": (25_576_264, None, 1e9),
}


def summary_json(cli: Callable[..., Result], path: Path) -> dict:
    result = cli("summary", "--json", path)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return json.loads(result.stdout)


def test_every_shipped_spec_has_a_published_figure(specs_dir: Path) -> None:
    """Here, or in timm's listings (tests/data/timm_resnet_zoo.json and timm_families.json),
    which tests/test_timm_listing.py and test_families_listing.py hold every such spec's
    summary to."""
    listed: set[str] = set()
    for listing in ("timm_resnet_zoo.json", "timm_families.json"):
        listed |= set(json.loads((REPO / "tests" / "data" / listing).read_text("utf-8"))["models"])
    shipped = {path.stem for path in specs_dir.rglob("*.yaml")}
    assert set(PUBLISHED) <= shipped
    assert shipped - set(PUBLISHED) <= listed


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_summary_matches_the_published_figures(
    name: str, specs_dir: Path, cli: Callable[..., Result]
) -> None:
    params, macs, unit = PUBLISHED[name]
    data = summary_json(cli, spec_path(name))
    assert data["name"] == name
    assert data["params"] == params
    if macs is not None:
        decimals = len(macs.partition(".")[2])
        assert f"{data['macs'] / unit:.{decimals}f}" == macs
    assert data["flops"] == 2 * data["macs"]


def test_json_layout(specs_dir: Path, cli: Callable[..., Result]) -> None:
    data = summary_json(cli, spec_path("resnet50"))
    assert {"name", "params", "macs", "flops", "stages"} <= set(data)
    assert all(isinstance(data[key], int) for key in ("params", "macs", "flops"))
    rows = data["stages"]
    assert [row["name"] for row in rows] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert [row["blocks"] for row in rows] == [0, 3, 4, 6, 3, 0]
    assert [row["output"] for row in rows] == [
        [64, 56, 56],
        [256, 56, 56],
        [512, 28, 28],
        [1024, 14, 14],
        [2048, 7, 7],
        [1000, 1, 1],
    ]
    assert sum(row["params"] for row in rows) == data["params"]
    assert sum(row["macs"] for row in rows) == data["macs"]
    # torchvision's fc: 2048 * 1000 weights + 1000 biases; 2048 * 1000 MACs.
    assert (rows[-1]["params"], rows[-1]["macs"]) == (2_049_000, 2_048_000)


def test_table_shows_totals_with_separators(specs_dir: Path, cli: Callable[..., Result]) -> None:
    result = cli("summary", spec_path("resnet152"))
    assert result.exit_code == 0, result.output
    assert "60,192,808" in result.stdout
    assert "11.514" in result.stdout
    assert "FLOPs = 2 x MACs" in result.stdout
    cifar = cli("summary", spec_path("resnet56_cifar"))
    assert cifar.exit_code == 0, cifar.output
    assert "853,018" in cifar.stdout


# --------------------------------------------------------------------------------------------
# ResNet-20 from first principles


def conv(kernel: int, cin: int, cout: int) -> int:
    """Weights of a bias-free convolution."""
    return kernel * kernel * cin * cout


def norm(channels: int) -> int:
    """Batch norm's affine weight and bias (the running statistics are buffers)."""
    return 2 * channels


def basic_block(cin: int, cout: int) -> int:
    """3x3 conv, norm, 3x3 conv, norm; option A shortcuts have no parameters."""
    return conv(3, cin, cout) + norm(cout) + conv(3, cout, cout) + norm(cout)


def test_resnet20_by_hand(specs_dir: Path, cli: Callable[..., Result]) -> None:
    stem = conv(3, 3, 16) + norm(16)  # 432 + 32
    stage1 = 3 * basic_block(16, 16)
    stage2 = basic_block(16, 32) + 2 * basic_block(32, 32)
    stage3 = basic_block(32, 64) + 2 * basic_block(64, 64)
    head = 64 * 10 + 10
    assert (stem, stage1, stage2, stage3, head) == (464, 14_016, 51_072, 203_520, 650)
    total = stem + stage1 + stage2 + stage3 + head
    assert total == 269_722

    # MACs: each conv's weights once per output pixel (32x32, then 16x16, then 8x8).
    macs = (
        conv(3, 3, 16) * 32 * 32
        + 6 * conv(3, 16, 16) * 32 * 32
        + (conv(3, 16, 32) + 5 * conv(3, 32, 32)) * 16 * 16
        + (conv(3, 32, 64) + 5 * conv(3, 64, 64)) * 8 * 8
        + 64 * 10
    )
    assert macs == 40_551_040

    data = summary_json(cli, spec_path("resnet20_cifar"))
    assert data["params"] == total
    assert data["macs"] == macs
    assert [row["params"] for row in data["stages"]] == [stem, stage1, stage2, stage3, head]
    assert [row["output"] for row in data["stages"]] == [
        [16, 32, 32],
        [16, 32, 32],
        [32, 16, 16],
        [64, 8, 8],
        [10, 1, 1],
    ]


def test_option_b_adds_the_published_2752_parameters(
    tmp_path: Path, specs_dir: Path, cli: Callable[..., Result]
) -> None:
    """He et al. 2015's reference figures: option B shortcuts add 2,752 parameters to ResNet-20
    (1x1 16->32 and 32->64 projections with their norms: 512 + 64 + 2048 + 128)."""
    spec = tmp_path / "resnet20_b.yaml"
    base = (spec_path("resnet20_cifar")).as_posix()
    spec.write_text(f"name: resnet20_b\nextends: {base}\nshortcut: projection\n")
    assert summary_json(cli, spec)["params"] == 269_722 + 2_752


def test_summary_of_a_broken_spec_is_one_located_line(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nblock: {type: basic}\nstages: [{blocks: 0, channels: 8}]\n")
    result = cli("summary", spec)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"{spec}:3:19: stages[0].blocks: must be >= 1, got 0\n"


def test_squeeze_excitation_rows_by_hand(cli: Callable[..., Result]) -> None:
    """SE-ResNet-18 less ResNet-18, stage by stage: two SE units of 2 * C * h + h + C
    parameters and 2 * C * h MACs (on the 1 x 1 squeezed map) per stage, with
    h = max(8, C / 16 rounded to a multiple of 8): 8, 8, 16, 32 for C = 64 ... 512."""
    se = summary_json(cli, spec_path("seresnet18"))["stages"]
    plain = summary_json(cli, spec_path("resnet18"))["stages"]
    widths = ((64, 8), (128, 8), (256, 16), (512, 32))
    params = [2 * (2 * c * h + h + c) for c, h in widths]
    macs = [2 * 2 * c * h for c, h in widths]
    assert params == [2_192, 4_368, 16_928, 66_624]
    rows = [
        (a["params"] - b["params"], a["macs"] - b["macs"]) for a, b in zip(se, plain, strict=True)
    ]
    assert rows == [(0, 0), *zip(params, macs, strict=True), (0, 0)]


@pytest.mark.parametrize(
    "name",
    [
        "seresnet50",
        "ecaresnet50d",
        "resnetaa50",
        "resnetblur50",
        "resnet50_gn",
        "senet154",
        "resnetrs50",
    ],
)
def test_summary_of_each_knob_equals_timms_listing(name: str, cli: Callable[..., Result]) -> None:
    """The command itself (at 224 px, the listing's size) against FlopCounterMode's count of
    timm's model: convs (SE's 1x1s, ECA's conv1d, the blur filter) and the classifier."""
    listing = json.loads((REPO / "tests" / "data" / "timm_resnet_zoo.json").read_text("utf-8"))
    entry = listing["models"][name]
    spec = spec_path(name)
    data = summary_json(cli, spec)
    assert data["input"] == entry["input_size"]  # timm's default size
    assert data["params"] == entry["params"]
    assert data["flops"] == 2 * data["macs"]
    if data["input"][1] == 224:  # the listing counts at 224 (resnetrs50's default is 160)
        assert data["macs"] == listing_macs(entry)
