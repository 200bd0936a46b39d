"""resgen.check.validate and `resgen validate`: every broken spec in tests/data/broken/ gives
exactly its expected located lines, exit code 2 and no traceback.

Each case is ``tests/data/broken/<case>.yaml``; its expected output is the file's
``# expect: <file>:<line>:<col>: <field>: <message>`` comments (placed last, so they move no
position), or ``<case>.expected`` beside it for a file that cannot hold a comment. Every
expected line was placed by hand, by counting; an actual line must start with it (a few
expectations stop before the end of a long message), and there must be as many actual lines as
expected ones, in the same (sorted) order.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from helpers import run_resgen, spec_path
from pydantic import BaseModel

from resgen.check.validate import load_spec, load_specs
from resgen.errors import Problem, SpecError, format_path
from resgen.spec.models import BottleneckBlockSpec, Spec

BROKEN = Path(__file__).parent / "data" / "broken"
CASES = sorted(path.name for path in BROKEN.glob("*.yaml"))
EXPECT = "# expect: "
LOCATED = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<rest>.+)$")

# Text that would mean a message was passed through from a library, not worded for a user.
NOT_FOR_USERS = re.compile(
    r"Traceback|pydantic|Input should|\[type=|For further information|BlockSpec|StageSpec"
    r"|StemSpec|NormSpec|InputSpec|tagged-union|\([a-z]+_[a-z_]+\)$|Error:"
)


def expected_lines(case: str) -> list[str]:
    sidecar = (BROKEN / case).with_suffix(".expected")
    if sidecar.exists():
        text = sidecar.read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line]
    lines = (BROKEN / case).read_text(encoding="utf-8").splitlines()
    return [line.removeprefix(EXPECT) for line in lines if line.startswith(EXPECT)]


def assert_lines(actual: list[str], expected: list[str]) -> None:
    assert len(actual) == len(expected), "\n".join(["got:", *actual, "expected:", *expected])
    for got, want in zip(actual, expected, strict=True):
        assert got.startswith(want), f"\ngot:      {got}\nexpected: {want}"


def position(line: str) -> tuple[str, int, int, str]:
    """How problems sort: by file, then line and column as numbers."""
    match = LOCATED.match(line)
    assert match, line
    return match["file"], int(match["line"]), int(match["col"]), match["rest"]


def assert_user_facing(result: Result) -> None:
    """Exit 2, nothing on stdout, only located one-line problems on stderr, no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    for line in result.stderr.splitlines():
        assert LOCATED.match(line), line
        assert not NOT_FOR_USERS.search(line), line


@pytest.fixture(scope="module")
def broken_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the broken specs, so nothing a case might do can touch the repository."""
    copy = tmp_path_factory.mktemp("broken") / "broken"
    shutil.copytree(BROKEN, copy)
    return copy


@pytest.fixture
def in_broken(broken_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(broken_copy)
    return broken_copy


# --------------------------------------------------------------------------------------------
# the broken specs, one by one


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 35
    for case in CASES:
        assert expected_lines(case), f"{case} has no expectation"


@pytest.mark.parametrize("case", CASES)
def test_broken_spec(case: str, in_broken: Path, cli: Callable[..., Result]) -> None:
    result = cli("validate", case)
    assert_user_facing(result)
    assert_lines(result.stderr.splitlines(), expected_lines(case))


def test_expected_positions_lie_inside_their_files() -> None:
    """A hand-placed position names a line of the file and a column of that line (or just past
    its end, where YAML places an empty value)."""
    for case in CASES:
        for line in expected_lines(case):
            match = LOCATED.match(line)
            assert match, line
            text = (BROKEN / match["file"]).read_text(encoding="utf-8").splitlines() or [""]
            row, col = int(match["line"]), int(match["col"])
            assert 1 <= row <= len(text), line
            assert 1 <= col <= len(text[row - 1]) + 1, line


def test_python_tag_never_runs(in_broken: Path, cli: Callable[..., Result]) -> None:
    assert "touch pwned" in (in_broken / "python_tag.yaml").read_text()
    cli("validate", "python_tag.yaml")
    assert not (in_broken / "pwned").exists()


def test_alias_bomb_fails_fast(in_broken: Path, cli: Callable[..., Result]) -> None:
    started = time.perf_counter()
    result = cli("validate", "alias_bomb.yaml")
    assert time.perf_counter() - started < 2
    assert result.exit_code == 2


def test_problems_in_a_base_are_placed_in_the_base(in_broken: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec("extends_bad_base.yaml")
    assert info.value.problems == [
        Problem(
            "bases/typo_base.yaml",
            7,
            1,
            "shotcut",
            "unknown field 'shotcut'; did you mean 'shortcut'?",
        )
    ]


# --------------------------------------------------------------------------------------------
# all problems at once


def test_all_problems_of_a_file_at_once_sorted(in_broken: Path, cli: Callable[..., Result]) -> None:
    """Field problems of one file come together, in line and column order."""
    lines = cli("validate", "many_problems.yaml").stderr.splitlines()
    assert len(lines) == 9
    assert lines == sorted(lines, key=position)
    assert len({position(line)[1:3] for line in lines}) == 9
    rules = cli("validate", "many_rule_problems.yaml").stderr.splitlines()
    assert [line.split(": ")[1] for line in rules] == [
        "stem.channels",
        "stride_shortcut",
        "zero_init_residual",
    ]


def test_a_folder_reports_every_file_at_once(in_broken: Path) -> None:
    """The real command on the whole folder: every case's lines, sorted, exit 2, no traceback.

    The scan reaches bases/ too: typo_base.yaml's own problem is extends_bad_base.yaml's, and
    the two are one line."""
    result = run_resgen("validate", ".", cwd=in_broken, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    expected = list(dict.fromkeys(line for case in CASES for line in expected_lines(case)))
    actual = result.stderr.splitlines()
    assert actual == sorted(actual, key=position)
    assert_lines(actual, sorted(expected, key=position))


def test_several_paths_at_once(in_broken: Path, cli: Callable[..., Result]) -> None:
    result = cli("validate", "stride_3.yaml", "no_such.yaml", "blocks_0.yaml")
    assert_user_facing(result)
    assert_lines(
        result.stderr.splitlines(),
        [
            "blocks_0.yaml:4:14: stages[0].blocks: must be >= 1, got 0",
            "no_such.yaml:1:1: no such file or folder",
            "stride_3.yaml:4:39: stages[0].stride: must be one of 1 or 2; got the integer 3",
        ],
    )


# --------------------------------------------------------------------------------------------
# folders, names across files


def test_shipped_specs_are_valid(specs_dir: Path, cli: Callable[..., Result]) -> None:
    result = cli("validate", specs_dir)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    count = len(list(specs_dir.rglob("*.yaml")))
    assert result.stdout == f"{count} spec(s) valid\n"


SPEC = (
    "# header comment\nname: {name}\nblock: {{type: basic}}\nstages: [{{blocks: 1, channels: 8}}]\n"
)


def test_duplicate_name_across_files_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("nets").mkdir()
    Path("nets/a.yaml").write_text(SPEC.format(name="net"))
    Path("nets/b.yaml").write_text(SPEC.format(name="net"))
    Path("nets/c.yaml").write_text(SPEC.format(name="other"))
    result = cli("validate", "nets")
    assert_user_facing(result)
    assert result.stderr == (
        "nets/b.yaml:2:7: name: 'net' is also the name of nets/a.yaml; names must be unique\n"
    )


def test_one_file_named_twice_is_not_a_duplicate(
    specs_dir: Path, cli: Callable[..., Result]
) -> None:
    result = cli(
        "validate",
        specs_dir,
        spec_path("resnet18"),
        spec_path("resnet18").parent / "." / "resnet18.yaml",
    )
    assert result.exit_code == 0, result.output
    assert len(load_specs([spec_path("resnet18"), specs_dir])) == len(
        list(specs_dir.rglob("*.yaml"))
    )


def test_folder_without_specs_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("empty").mkdir()
    Path("empty/notes.txt").write_text("not a spec")
    result = cli("validate", "empty")
    assert_user_facing(result)
    assert result.stderr == "empty:1:1: no spec files (*.yaml, *.yml) in this folder\n"


def test_yml_suffix_is_found(tmp_path: Path, cli: Callable[..., Result]) -> None:
    (tmp_path / "net.yml").write_text(SPEC.format(name="net"))
    assert cli("validate", tmp_path).stdout == "1 spec(s) valid\n"


# --------------------------------------------------------------------------------------------
# rules at their boundaries


def downsampling_spec(size: int) -> str:
    """An imagenet stem and three strided stages: five halvings, rounding up."""
    return (
        f"name: net\ninput: {{size: {size}}}\nblock: {{type: basic}}\nstages:\n"
        "  - {blocks: 1, channels: 8}\n"
        "  - {blocks: 1, channels: 8, stride: 2}\n"
        "  - {blocks: 1, channels: 8, stride: 2}\n"
        "  - {blocks: 1, channels: 8, stride: 2}\n"
    )


def test_smallest_input_is_the_one_the_message_names(tmp_path: Path) -> None:
    """17 -> 9 -> 5 -> 3 -> 2 -> 1: every halving sees at least 2x2; 16 runs out one early."""
    (tmp_path / "ok.yaml").write_text(downsampling_spec(17))
    assert load_spec(tmp_path / "ok.yaml").input.size == 17
    (tmp_path / "small.yaml").write_text(downsampling_spec(16))
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "small.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (8, "stages[3].stride")
    assert problem.message.endswith(
        "input.size 16 is too small for this network (needs at least 17)"
    )


def test_field_problems_are_reported_before_cross_field_rules(tmp_path: Path) -> None:
    """Rules relate valid fields, so they wait until every field is valid."""
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "name: mixed\nnum_classes: 0\nstem: {type: deep, channels: 63}\n"
        "block: {type: basic}\nstages: [{blocks: 1, channels: 64}]\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert [p.field for p in info.value.problems] == ["num_classes"]


# --------------------------------------------------------------------------------------------
# files a folder holds that are no spec files: refused by name, never skipped, never blocking


def test_a_spec_folder_refuses_entries_that_are_not_regular_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = Path("nets")
    folder.mkdir()
    (folder / "good.yaml").write_text(SPEC.format(name="good"))
    os.mkfifo(folder / "pipe.yaml")
    (folder / "dangling.yaml").symlink_to("gone.yaml")
    (folder / "zero.yml").symlink_to("/dev/zero")
    (folder / "sub.yaml").mkdir()
    (folder / "notes.txt").symlink_to("/dev/zero")  # not a spec's name: not looked at
    started = time.perf_counter()
    result = cli("validate", "nets")
    assert time.perf_counter() - started < 10
    assert_user_facing(result)
    assert result.stderr.splitlines() == [
        "nets/dangling.yaml:1:1: cannot read the spec: it is a link to a missing file",
        "nets/pipe.yaml:1:1: cannot read the spec: it is a FIFO (named pipe), not a regular file",
        "nets/sub.yaml:1:1: cannot read the spec: it is a folder, not a regular file",
        "nets/zero.yml:1:1: cannot read the spec: it is a character device, not a regular file",
    ]


# --------------------------------------------------------------------------------------------
# strict types: a boolean is no number anywhere, a float no integer choice


MINIMAL: dict[str, Any] = {
    "name": "net",
    "block": {"type": "basic"},
    "stages": [{"blocks": 1, "channels": 8}],
}

# Where a field sits under a tagged union, the member its `type` picks: (path, tag) pairs.
Tags = tuple[tuple[tuple[str | int, ...], str], ...]
Found = list[tuple[tuple[str | int, ...], str, Tags]]


def _core(annotation: Any) -> Any:
    """``X`` from ``X | None`` and ``Annotated[X, ...]``."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _core(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _core(members[0])
    return annotation


def _tagged_members(annotation: Any) -> list[tuple[type[BaseModel], str]]:
    """The models of a tagged union (through ``Annotated`` and ``| None``) with their tags."""
    core = _core(annotation)
    if typing.get_origin(core) not in (typing.Union, types.UnionType):
        return []
    out = []
    for member in typing.get_args(core):
        member = _core(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            (tag,) = typing.get_args(member.model_fields["type"].annotation)
            out.append((member, tag))
    return out


def numeric_fields(model: type[BaseModel], prefix: tuple[str | int, ...], tags: Tags = ()) -> Found:
    """(path, "an integer" or "a number", tags) for every numeric field of the spec, walked from
    the models (the bottleneck's fields under ``block``, each attention kind's under
    ``block.attention``, list items, optional numbers), so new fields are covered by
    themselves."""
    found: Found = []
    for name, field in model.model_fields.items():
        annotation = _core(field.annotation)
        path = (*prefix, name)
        choices = (
            typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()
        )
        if annotation is int or (choices and all(type(c) is int for c in choices)):
            found.append((path, "an integer", tags))
        elif annotation is float:
            found.append((path, "a number", tags))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += numeric_fields(annotation, path, tags)
        elif typing.get_origin(annotation) is list:
            (item,) = typing.get_args(annotation)
            if _core(item) is int:
                found.append(((*path, 0), "an integer", tags))
            elif _core(item) is float:
                found.append(((*path, 0), "a number", tags))
            else:
                found += numeric_fields(_core(item), (*path, 0), tags)
        for member, tag in _tagged_members(field.annotation):
            if name != "block":  # the block kinds are walked one by one below
                found += numeric_fields(member, path, (*tags, (path, tag)))
    return found


def with_value(path: tuple[str | int, ...], value: Any, tags: Tags = ()) -> dict[str, Any]:
    """A valid spec (bottleneck blocks, a deep stem with explicit widths, a pretrained
    section) with ``value`` at ``path`` and each tagged union set to the member that has the
    field."""
    spec = json.loads(json.dumps({**MINIMAL, "block": {"type": "bottleneck"}}))
    spec["stem"] = {"type": "deep", "widths": [24, 32, 64]}
    spec["pretrained"] = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    for where, tag in tags:
        node = spec
        for part in where:
            node = node.setdefault(part, {})
        node["type"] = tag
    node = spec
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    node[path[-1]] = value
    return spec


FIELDS = numeric_fields(Spec, ()) + numeric_fields(BottleneckBlockSpec, ("block",))


def test_every_numeric_field_is_found() -> None:
    paths = {".".join(map(str, p)) for p, _, _ in FIELDS}
    assert {"num_classes", "stages.0.stride", "stages.0.blocks", "norm.eps", "dropout"} <= paths
    assert {"block.groups", "block.expansion", "input.size", "stem.channels"} <= paths
    assert {"block.reduce_first", "norm.groups", "projection_kernel", "drop_path_rate"} <= paths
    assert {"stem.widths.0", "block.attention.ratio", "block.attention.hidden_channels"} <= paths
    assert {"block.attention.divisor", "block.attention.kernel_size"} <= paths
    assert {"block.attention.gamma", "block.attention.beta"} <= paths


def _id(value: Any) -> str:
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):  # tags
        return "-".join(tag for _, tag in value)
    return ".".join(map(str, value)) if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize(("path", "kind", "tags"), FIELDS, ids=_id)
def test_booleans_are_not_numbers_anywhere(
    tmp_path: Path, path: tuple[str | int, ...], kind: str, tags: Tags
) -> None:
    file = tmp_path / "net.yaml"
    for value in (True, False):
        file.write_text(json.dumps(with_value(path, value, tags)))  # JSON is YAML
        with pytest.raises(SpecError) as info:
            load_spec(file)
        shown = format_path(path)
        messages = [p.message for p in info.value.problems if p.field == shown]
        assert messages == [f"expected {kind}, got the boolean {str(value).lower()}"], info.value


@pytest.mark.parametrize(
    ("path", "kind", "tags"), [f for f in FIELDS if f[1] == "an integer"], ids=_id
)
def test_floats_are_not_integers_anywhere(
    tmp_path: Path, path: tuple[str | int, ...], kind: str, tags: Tags
) -> None:
    file = tmp_path / "net.yaml"
    file.write_text(json.dumps(with_value(path, 2.0, tags)))
    with pytest.raises(SpecError) as info:
        load_spec(file)
    shown = format_path(path)
    assert [p.message for p in info.value.problems if p.field == shown] == [
        "expected an integer, got the number 2.0"
    ], info.value


def test_a_base_problem_is_one_line_however_many_specs_extend_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("nets/base").mkdir(parents=True)
    Path("nets/base/common.yaml").write_text("block: {type: basic}\nshotcut: projection\n")
    for name in ("a", "b", "c"):
        body = f"name: {name}\nextends: base/common.yaml\nstages: [{{blocks: 1, channels: 8}}]\n"
        Path(f"nets/{name}.yaml").write_text(body)
    result = cli("validate", "nets")
    assert_user_facing(result)
    assert result.stderr.splitlines() == [
        "nets/base/common.yaml:1:1: name: required field is missing",
        "nets/base/common.yaml:1:1: stages: required field is missing; list the stages, or "
        "give a regnet section",
        "nets/base/common.yaml:2:1: shotcut: unknown field 'shotcut'; did you mean 'shortcut'?",
    ]


# --------------------------------------------------------------------------------------------
# the budgets at their edges: exactly at the bound builds, one unit past it is refused

# Each spec's count is a hand computation (a cifar stem and basic blocks of one width C on an
# S x S input, K classes; no projection, as the widths never change):
#   parameters = 27C + 2C (stem conv, norm) + B (18C^2 + 4C) (two 3x3 convs, two norms) + CK + K
#   MACs       = 27C S^2 (stem) + B 18C^2 S^2 (blocks) + CK (classifier)
BUDGET_EDGES = {
    # C 256, B 7, S 1100: 256 * 1100^2 * (27 + 18 * 7 * 256) = 9,999,982,080,000; + 256 K.
    "macs": (
        "input: {channels: 3, size: 1100}\nstem: {type: cifar, channels: 256}\n"
        "block: {type: basic}\nstages:\n  - {blocks: 7, channels: 256}\nnum_classes: %d\n",
        70_000,
        "macs",
        10_000_000_000_000,
        "6:3: stages: 10,000,000,000,256 MACs per image exceed resgen's bound of "
        "10,000,000,000,000",
    ),
    # C 1778, B 14, S 1: 29 * 1778 + 14 * (18 * 1778^2 + 4 * 1778) = 796,798,918; + 1779 K.
    "params": (
        "input: {channels: 3, size: 1}\nstem: {type: cifar, channels: 1778}\n"
        "block: {type: basic}\nstages:\n  - {blocks: 14, channels: 1778}\nnum_classes: %d\n",
        676_338,
        "params",
        2_000_000_000,
        "6:3: stages: 2,000,001,779 parameters exceed resgen's bound of 2,000,000,000",
    ),
    # Stages of at most 1,000 blocks each: 1,000 + 999 + 1 is the bound of 2,000 over all.
    "blocks": (
        "input: {channels: 3, size: 8}\nstem: {type: cifar, channels: 4}\n"
        "block: {type: basic}\nstages:\n  - {blocks: 1000, channels: 4}\n"
        "  - {blocks: 999, channels: 4}\n  - {blocks: %d, channels: 4}\n",
        1,
        "blocks",
        2_000,
        "6:3: stages: 2,001 blocks in all exceed resgen's bound of 2,000",
    ),
}


@pytest.mark.parametrize("budget", sorted(BUDGET_EDGES))
def test_each_budget_at_its_edge_and_one_past_it(
    budget: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    template, edge, field, bound, refusal = BUDGET_EDGES[budget]
    monkeypatch.chdir(tmp_path)
    Path("edge.yaml").write_text(f"name: edge\n{template % edge}", encoding="utf-8")
    Path("past.yaml").write_text(f"name: past\n{template % (edge + 1)}", encoding="utf-8")
    result = cli("validate", "edge.yaml")
    assert result.exit_code == 0, result.output
    summary = cli("summary", "--json", "edge.yaml")
    assert summary.exit_code == 0, summary.output
    data = json.loads(summary.stdout)
    count = sum(stage["blocks"] for stage in data["stages"]) if field == "blocks" else data[field]
    assert count == bound
    result = cli("validate", "past.yaml")
    assert_user_facing(result)
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"past.yaml:{refusal}"), line
