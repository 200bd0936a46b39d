"""The command line's contract: exit codes, help, schema, list, usage errors, and staying free of
the frameworks (torch, tensorflow, keras) everywhere but `train`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers import DATA, listing_macs, no_traceback, run_resgen, spec_path

from resgen.spec.loader import load_document
from resgen.spec.models import Spec

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")


# --------------------------------------------------------------------------------------------
# help and exit codes


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["summary", "-h"]])
def test_help_documents_the_exit_codes(args: list[str], cli: Callable[..., Result]) -> None:
    result = cli(*args)
    assert result.exit_code == 0
    out = " ".join(result.stdout.split())
    assert "Exit codes:" in out
    assert "0 ok" in out
    assert "1 a check or a training run failed" in out
    assert "2 bad input" in out


def test_help_lists_the_commands(cli: Callable[..., Result]) -> None:
    out = cli("--help").stdout
    for command in ("build", "validate", "summary", "list", "schema"):
        assert f"  {command} " in out


def test_python_dash_m(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "resgen", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ")
    assert "Exit codes:" in result.stdout


# --------------------------------------------------------------------------------------------
# usage errors and bad paths: exit 2, no traceback


USAGE_LINE = re.compile(r"^resgen(?: [a-z]+)?: .+; see 'resgen(?: [a-z]+)? --help'$")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["validate", "--bogus", "x.yaml"],
            "resgen validate: no such option '--bogus'; see 'resgen validate --help'",
        ),
        (
            ["validate"],
            "resgen validate: missing argument 'PATHS...'; see 'resgen validate --help'",
        ),
        (["summary"], "resgen summary: missing argument 'SPEC'; see 'resgen summary --help'"),
        (["frobnicate"], "resgen: no such command 'frobnicate'; see 'resgen --help'"),
        (
            ["build", "specs", "--backend", "tf"],
            "resgen build: invalid value for '--backend': 'tf' is not one of 'torch', 'keras', "
            "'all'; see 'resgen build --help'",
        ),
        (
            ["build", "specs", "--bakend", "torch"],
            "resgen build: no such option '--bakend'; did you mean '--backend'?; "
            "see 'resgen build --help'",
        ),
        (
            ["build", "specs", "--out", ""],
            "resgen build: invalid value for '--out': the path is empty; see 'resgen build --help'",
        ),
        (
            ["validate", ""],
            "resgen validate: invalid value for 'PATHS...': the path is empty; "
            "see 'resgen validate --help'",
        ),
        (["build", "--out"], "resgen: option '--out' requires an argument; see"),  # click: no ctx
        (["schema", "extra"], "resgen schema: got unexpected extra argument (extra); see"),
        (["train"], "resgen train: missing argument 'SPECS...'; see 'resgen train --help'"),
        (
            ["train", "x.yaml", "--backend", "jax"],
            "resgen train: invalid value for '--backend': 'jax' is not one of 'torch', 'keras'",
        ),
        (
            ["train", "x.yaml", "--steps", "many"],
            "resgen train: invalid value for '--steps': 'many' is not a valid integer; see",
        ),
        (["train", "x.yaml", "--frobnicate"], "resgen train: no such option '--frobnicate'"),
        (["list", "--bogus"], "resgen list: no such option '--bogus'; see 'resgen list --help'"),
        (
            ["list", "a", "b"],
            "resgen list: got unexpected extra argument (b); see 'resgen list --help'",
        ),
        (
            ["list", ""],
            "resgen list: invalid value for '[FOLDER]': the path is empty; "
            "see 'resgen list --help'",
        ),
        (["convert"], "resgen convert: missing argument 'SPEC'; see 'resgen convert --help'"),
        (
            ["convert", "s.yaml", "in.pt"],
            "resgen convert: missing argument 'OUT'; see 'resgen convert --help'",
        ),
        (
            ["convert", "s.yaml", "in.pt", "out.weights.h5", "--forse"],
            "resgen convert: no such option '--forse'; did you mean '--force'?; "
            "see 'resgen convert --help'",
        ),
        (
            ["convert", "", "in.pt", "out.weights.h5"],
            "resgen convert: invalid value for 'SPEC': the path is empty; "
            "see 'resgen convert --help'",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    args: list[str], line: str, cli: Callable[..., Result]
) -> None:
    """click's three-line usage blocks become one line, for every command, ``train`` too."""
    result = cli(*args)
    no_traceback(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    (only,) = result.stderr.splitlines()
    assert only.startswith(line), only
    assert USAGE_LINE.match(only), only


def test_usage_errors_in_a_real_process(tmp_path: Path) -> None:
    for args in (["build", "--backend", "tf", "x.yaml"], ["train", "--bogus"], ["nope"]):
        result = subprocess.run(
            [sys.executable, "-m", "resgen", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr and "Usage:" not in result.stderr


@pytest.mark.parametrize("command", [["build"], ["build", "--check"]])
def test_out_that_is_a_file_is_one_located_line(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    specs_dir: Path,
    cli: Callable[..., Result],
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("mine")
    Path("out").mkdir()
    Path("out/torch").write_text("also mine")
    spec = spec_path("resnet18")
    for out, shown in (("notes.txt", "notes.txt"), ("out", "out/torch")):
        result = cli(*command, spec, "--out", out)
        no_traceback(result)
        assert result.exit_code == 2
        assert result.stderr == (
            f"{shown}:1:1: the output folder is a file; give --out a folder (it is created if "
            "missing)\n"
        )
    assert Path("notes.txt").read_text() == "mine" and Path("out/torch").read_text() == "also mine"


@pytest.mark.parametrize(
    ("command", "line"),
    [
        ("validate", "no_such.yaml:1:1: no such file or folder"),
        ("summary", "no_such.yaml:1:1: cannot read the spec: no such file"),
        ("list", "no_such.yaml:1:1: no such file or folder"),
    ],
)
def test_nonexistent_path_is_one_line(
    command: str,
    line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Result],
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(command, "no_such.yaml")
    no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr == line + "\n"
    assert result.stdout == ""


def test_bad_path_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    result = run_resgen("summary", "missing.yaml", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "missing.yaml:1:1: cannot read the spec: no such file\n"


# --------------------------------------------------------------------------------------------
# list


def test_list_shows_every_spec(specs_dir: Path, cli: Callable[..., Result]) -> None:
    result = cli("list", specs_dir)
    assert result.exit_code == 0, result.output
    rows = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│")}
    assert rows == {path.stem for path in specs_dir.rglob("*.yaml")}
    assert "60,192,808" in result.stdout  # resnet152's published count


# keras.applications' builders and their published trainable parameter counts.
KERAS_APPLICATIONS = {
    "resnet50_v1": 25_583_592,
    "resnet101_v1": 44_601_832,
    "resnet152_v1": 60_268_520,
    "resnet50_v2": 25_568_360,
    "resnet101_v2": 44_577_896,
    "resnet152_v2": 60_236_904,
}


def expected_row(
    name: str, tv: dict, zoo: dict, published: dict, families: dict | None = None
) -> dict[str, Any]:
    """What each column of `resgen list` must say for ``name``, from facts resgen did not write:
    torchvision's listing, keras.applications' published counts, the papers' figures (the table
    in test_summary.py) and timm's listings (tests/data/timm_resnet_zoo.json and
    timm_families.json, from timm)."""
    families = families or {}
    depth_in_name = re.search(r"(?:resnet|resnext|plain)(\d+)", name)
    if name in tv:
        blocks = "basic" if name in ("resnet18", "resnet34") else "bottleneck"
        row = {"family": "torchvision", "params": tv[name]["params"], "input": (3, 224)}
        row |= {"block": blocks, "shortcut": "projection"}
    elif name in KERAS_APPLICATIONS:
        block = "preact bottleneck" if name.endswith("_v2") else "bottleneck"
        row = {"family": "keras", "params": KERAS_APPLICATIONS[name], "input": (3, 224)}
        row |= {"block": block, "shortcut": "projection"}
    elif name.endswith("_cifar"):
        # He et al.: option A (zero padding), the plain baselines none, ResNet-164 pre-activation
        # bottlenecks with projections (He et al. 2016).
        shortcut = "none" if name.startswith("plain") else "zero_pad"
        block = "basic"
        if name.startswith("preact"):
            block, shortcut = "preact bottleneck", "projection"
        row = {"family": "papers", "params": published[name][0], "input": (3, 32)}
        row |= {"block": block, "shortcut": shortcut}
    elif name in families:
        # timm's other residual modules (tests/data/timm_families.json). ResNeSt, Res2Net and
        # SKNet: the depth the name gives (two more for a deep stem), the block kind by module
        # and timm's keys. RegNet and legacy SENet: main-path convs and the classifier, less
        # the shortcuts' and the attention modules' own.
        entry = families[name]
        state = entry["state_dict"]
        module = entry["module"]
        named = re.search(r"(?:resnest|res2net|res2next|skresnet|skresnext)(\d+)", name)
        if module in ("resnest", "res2net", "sknet") and named:
            depth = int(named[1]) + (2 if "conv1.0.weight" in state else 0)
        else:
            depth = sum(
                1
                for key, shape in state.items()
                if key.endswith("weight")
                and len(shape) in (2, 4)
                and not any(part in key for part in ("downsample", ".se.", "se_module"))
            )
        bottleneck = any(".conv3." in key for key in state)
        block = {"resnest": "resnest", "res2net": "res2net", "regnet": "regnet"}.get(module)
        if module == "sknet":
            block = "sk_bottleneck" if bottleneck else "sk_basic"
        avg = any(key.endswith("downsample.1.weight") and len(s) == 4 for key, s in state.items())
        if module == "resnetv2":
            # timm's resnetv2.py: pre-activation blocks; its DownsampleAvg pool holds no weight,
            # and every registered model with a deep or tiered stem (stem.conv1) has avg_down.
            bottleneck = any(".blocks.0.conv3." in key for key in state)  # not stem.conv3
            block = "preact " + ("bottleneck" if bottleneck else "basic")
            avg = "stem.conv1.weight" in state
        shortcut = "avg_projection" if avg else "projection"
        if module == "regnet":
            # timm's regnet.py: a pre-activation block's first layer is its norm (``norm1``,
            # RegNetV); RegNet-Z (``downsample=None``) holds no projection anywhere.
            if any(".b1.norm1." in key for key in state):
                block = "preact regnet"
            if not any(".downsample" in key for key in state):
                shortcut = "identity"
        row = {"family": module, "params": entry["params"], "depth": depth}
        row |= {"block": block or ("bottleneck" if bottleneck else "basic")}
        row |= {"input": tuple(entry["input_size"][:2])}
        row |= {"shortcut": shortcut}
        if entry["input_size"][1] == 224:  # the listing counts at 224 px
            row["gmacs"] = (listing_macs(entry) / 1e9, 0.0005)
        return row
    else:
        entry = zoo[name]
        state = entry["state_dict"]
        # Weighted layers on the main path: convs and the classifier, less the shortcuts' and
        # the attention modules' own.
        depth = sum(
            1
            for key, shape in state.items()
            if key.endswith("weight")
            and len(shape) in (2, 4)
            and not any(part in key for part in ("downsample", ".se.", "attn", "conv2.fc"))
        )
        avg = any(key.endswith("downsample.1.weight") and len(s) == 4 for key, s in state.items())
        # timm's other residual modules (timm_families.json) are their own families.
        family = entry.get("module", "timm")
        row = {"family": family, "params": entry["params"], "depth": depth}
        row |= {"input": tuple(entry["input_size"][:2])}
        bottleneck = any(key.startswith("layer1.0.conv3.") for key in state)
        row |= {"block": "bottleneck" if bottleneck else "basic"}
        if "layer1.0.conv2.fc1.weight" in state:  # ResNeSt's split attention (SplitAttn)
            row["block"] = "resnest"
        if family == "sknet":  # selective-kernel convs: paths and ConvNormAct, not counted here
            row["block"] = "sk_bottleneck" if bottleneck else "sk_basic"
            row["depth"] = None
        row |= {"shortcut": "avg_projection" if avg else "projection"}
        if entry["input_size"][1] == 224:  # the listing counts at 224 px
            row["gmacs"] = (listing_macs(entry) / 1e9, 0.0005)
        return row
    row["depth"] = int(depth_in_name[1]) if depth_in_name else None
    macs = published.get(name, (None, None, 1))
    if macs[1] is not None:  # published to its digits: the list agrees within the rounding
        digits = len(macs[1].partition(".")[2])
        row["gmacs"] = (float(macs[1]) * macs[2] / 1e9, 0.0005 + 0.5 * 10**-digits * macs[2] / 1e9)
    return row


def test_list_rows_agree_with_independent_facts(
    specs_dir: Path, cli: Callable[..., Result]
) -> None:
    """Row by row and column by column, against the libraries' and the papers' figures."""
    from test_summary import PUBLISHED

    tv = json.loads((DATA / "torchvision_state_dicts.json").read_text(encoding="utf-8"))
    zoo = json.loads((DATA / "timm_resnet_zoo.json").read_text(encoding="utf-8"))["models"]
    families = json.loads((DATA / "timm_families.json").read_text(encoding="utf-8"))["models"]
    result = cli("list", specs_dir)
    assert result.exit_code == 0, result.output
    header, *rows = [
        [cell.strip() for cell in line.strip("│┃").split("│" if line[0] == "│" else "┃")]
        for line in result.stdout.splitlines()
        if line[:1] in ("│", "┃")
    ]
    assert header == ["name", "family", "depth", "params", "GMACs", "block", "shortcut", "input"]
    assert [row[0] for row in rows] == sorted(path.stem for path in specs_dir.glob("*.yaml"))
    checked = {"depth": 0, "gmacs": 0}
    for name, family, depth, params, gmacs, block, shortcut, shown_input in rows:
        if name == "test_resnet":  # timm's test network mixes block kinds: not one column's word
            continue
        want = expected_row(name, tv, zoo, PUBLISHED, families)
        assert (family, int(params.replace(",", ""))) == (want["family"], want["params"]), name
        assert (block, shortcut) == (want["block"], want["shortcut"]), name
        channels, size = want["input"]
        assert shown_input == f"{channels}x{size}x{size}", name  # not cut ("3x224x2…" was)
        if want["depth"] is not None:
            assert int(depth) == want["depth"], name
            checked["depth"] += 1
        if "gmacs" in want:
            value, within = want["gmacs"]
            assert abs(float(gmacs) - value) <= within, (name, gmacs, value)
            checked["gmacs"] += 1
    # 94 specs before issue 20's families (93 depths, 70 MACs), then each family's specs (a
    # depth each, and MACs where timm's input is 224 px, as the listing counts).
    added = [row[0] for row in rows if row[0] in families]
    at_224 = [name for name in added if families[name]["input_size"][1] == 224]
    assert len(rows) == 94 + len(added)
    assert checked == {"depth": 93 + len(added), "gmacs": 70 + len(at_224)}, checked


def test_list_refuses_a_folder_with_a_broken_spec(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\nblock: {type: basic}\nstages: []\n")
    result = cli("list", tmp_path)
    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path / 'bad.yaml'}:3:9: stages: needs at least 1 stage\n"


# --------------------------------------------------------------------------------------------
# schema


@pytest.fixture(scope="module")
def schema() -> dict:
    from resgen.cli.commands import main

    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_schema_describes_every_field(schema: dict) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["description"]
    assert set(schema["properties"]) == set(Spec.model_fields)
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    for model, definition in schema["$defs"].items():
        assert definition.get("description"), model
        for name, prop in definition["properties"].items():
            assert prop.get("description"), f"{model}.{name}"


def test_schema_requires_the_core_fields_unless_extending(schema: dict) -> None:
    assert "required" not in schema
    assert schema["if"] == {"required": ["extends"]}
    assert schema["else"]["required"] == ["name", "block"]
    assert schema["else"]["anyOf"] == [{"required": ["stages"]}, {"required": ["regnet"]}]
    stage = schema["$defs"]["StageSpec"]
    assert stage["required"] == ["blocks", "channels"]
    assert stage["properties"]["stride"]["enum"] == [1, 2]


def shipped(specs_dir: Path) -> list[Path]:
    return sorted(specs_dir.rglob("*.yaml"))


def test_shipped_specs_satisfy_the_schema(schema: dict, specs_dir: Path) -> None:
    """Both as loaded (extends merged) and as written (what an editor sees); jsonschema is a dev
    dependency, so this runs wherever the tests do."""
    import jsonschema
    import yaml

    validator = jsonschema.Draft202012Validator(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in shipped(specs_dir):
        loaded, _ = load_document(path)
        assert not list(validator.iter_errors(loaded)), path
        written = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert not list(validator.iter_errors(written)), path
    for bad in (
        {"name": "x", "stages": [{"blocks": 1, "channels": 8}]},  # no block
        {"name": "x", "block": {"groups": 2}, "stages": [{"blocks": 1, "channels": 8}]},
        {"name": "x", "block": {"type": "basic"}, "stages": [{"blocks": 1, "channels": 8}], "z": 1},
        {"extends": "a.yaml", "block": {"colour": "red"}},
        {
            "name": "x",
            "block": {"type": "basic"},
            "stages": [{"blocks": 1, "channels": 8, "stride": 3}],
        },
        {"name": "x", "block": {"type": "basic"}, "stages": [{"blocks": True, "channels": 8}]},
        {"name": "x", "block": {"type": "basic"}, "stages": []},
        {"name": "X y", "block": {"type": "basic"}, "stages": [{"blocks": 1, "channels": 8}]},
        {"extends": "a.yaml", "norm": {"eps": 1e-20}},
        {"extends": "a.yaml", "shortcut": "projecton"},
    ):
        assert list(validator.iter_errors(bad)), bad


# --------------------------------------------------------------------------------------------
# no framework imports


PROBE = textwrap.dedent(
    """
    import json, sys
    from resgen.cli.commands import main
    try:
        main(sys.argv[1:], prog_name="resgen")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
    """
)


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{specs}"],
        ["summary", "{specs}/resnet50_v2.yaml"],
        ["list", "{specs}"],
        ["schema"],
        ["--help"],
        ["build", "{specs}", "--backend", "all", "--out", "{out}"],
        ["build", "{specs}", "--backend", "all", "--out", "{generated}", "--check"],
    ],
    ids=["validate", "summary", "list", "schema", "help", "build", "check"],
)
def test_no_framework_is_imported(args: list[str], specs_dir: Path, tmp_path: Path) -> None:
    """Every command but `train` and `convert` loads no framework (`import resgen` and its
    modules: tests/test_imports.py)."""
    generated = specs_dir.parent / "generated"
    argv = [arg.format(specs=specs_dir, out=tmp_path / "out", generated=generated) for arg in args]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    report = json.loads(result.stderr.splitlines()[-1])
    assert report["code"] == 0
    loaded = [m for m in report["modules"] if m.split(".")[0] in FRAMEWORKS]
    assert loaded == []
    assert "resgen" in report["modules"]
