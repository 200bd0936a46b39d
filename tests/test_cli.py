"""The command line's contract: exit codes, help, schema, list, usage errors, and staying free of
the frameworks (torch, tensorflow, keras) everywhere but `train`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from resgen.loader import load_document
from resgen.spec import Spec

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")


def no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


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


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["validate", "--bogus", "x.yaml"], "No such option '--bogus'"),
        (["validate"], "Missing argument 'PATHS...'"),
        (["summary"], "Missing argument 'SPEC'"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["build", "specs", "--backend", "tf"], "Invalid value for '--backend'"),
        (["schema", "extra"], "Got unexpected extra argument (extra)"),
    ],
)
def test_usage_errors_exit_2(args: list[str], says: str, cli: Callable[..., Result]) -> None:
    result = cli(*args)
    no_traceback(result)
    assert result.exit_code == 2
    assert "Usage: " in result.stderr
    assert says in result.stderr
    assert result.stdout == ""


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
    result = subprocess.run(
        [sys.executable, "-m", "resgen", "summary", "missing.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "missing.yaml:1:1: cannot read the spec: no such file\n"


# --------------------------------------------------------------------------------------------
# list


def test_list_shows_every_spec(specs_dir: Path, cli: Callable[..., Result]) -> None:
    result = cli("list", specs_dir)
    assert result.exit_code == 0, result.output
    rows = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│")}
    assert rows == {path.stem for path in specs_dir.glob("*.yaml")}
    assert "60,192,808" in result.stdout  # resnet152's published count


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
    from resgen.cli import main

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
    assert schema["else"]["required"] == ["name", "block", "stages"]
    stage = schema["$defs"]["StageSpec"]
    assert stage["required"] == ["blocks", "channels"]
    assert stage["properties"]["stride"]["enum"] == [1, 2]


def shipped(specs_dir: Path) -> list[Path]:
    return sorted(specs_dir.glob("*.yaml"))


def test_shipped_specs_satisfy_the_schema(schema: dict, specs_dir: Path) -> None:
    """Both as loaded (extends merged) and as written (what an editor sees)."""
    jsonschema = pytest.importorskip("jsonschema")
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
    ):
        assert list(validator.iter_errors(bad)), bad


# --------------------------------------------------------------------------------------------
# no framework imports


PROBE = textwrap.dedent(
    """
    import json, sys
    args = sys.argv[1:]
    if args:
        from resgen.cli import main
        try:
            main(args, prog_name="resgen")
        except SystemExit as exc:
            code = exc.code
        else:
            code = 0
    else:
        import resgen
        code = 0
    print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
    """
)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["validate", "{specs}"],
        ["summary", "{specs}/resnet50_v2.yaml"],
        ["list", "{specs}"],
        ["schema"],
        ["--help"],
    ],
    ids=["import", "validate", "summary", "list", "schema", "help"],
)
def test_no_framework_is_imported(args: list[str], specs_dir: Path) -> None:
    argv = [arg.format(specs=specs_dir) for arg in args]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    report = json.loads(result.stderr.splitlines()[-1])
    assert report["code"] == 0
    loaded = [m for m in report["modules"] if m.split(".")[0] in FRAMEWORKS]
    assert loaded == []
    assert "resgen" in report["modules"]
