"""resgen.loader: YAML 1.2 reading, refusals with exact locations, `extends`, the source map."""

from __future__ import annotations

import math
import time
import tracemalloc
from pathlib import Path

import pytest

from resgen.errors import Problem, SpecError
from resgen.loader import Location, SourceMap, load_document, load_string


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: str | Path) -> list[Problem]:
    with pytest.raises(SpecError) as info:
        load_document(path)
    for problem in info.value.problems:
        assert "\n" not in str(problem)
    return info.value.problems


def only_problem(path: str | Path) -> Problem:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work inside tmp_path, so file names in problems are short relative paths."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------------------------
# YAML 1.2 scalars


def test_yaml_12_core_schema_scalars(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        "yes_: yes\nno_: no\non_: on\noff_: Off\n"
        "dec: 010\noct: 0o17\nhex: 0x1F\nneg: -42\nplus: +7\n"
        "e1: 1e-5\ne2: 1.0e-5\nhalf: .5\nneg3: -3.\nbig: 2E3\n"
        "t1: true\nt2: True\nt3: TRUE\nf1: false\nf2: FALSE\n"
        "n1: null\nn2: Null\nn3: NULL\nn4: ~\nn5:\n"
        "q1: '010'\nq2: \"true\"\nunderscore: 1_000\nsexagesimal: 1:20\ny: y\n",
    )
    data, _ = load_document(path)
    assert data == {
        "yes_": "yes",
        "no_": "no",
        "on_": "on",
        "off_": "Off",
        "dec": 10,
        "oct": 15,
        "hex": 31,
        "neg": -42,
        "plus": 7,
        "e1": 1e-05,
        "e2": 1e-05,
        "half": 0.5,
        "neg3": -3.0,
        "big": 2000.0,
        "t1": True,
        "t2": True,
        "t3": True,
        "f1": False,
        "f2": False,
        "n1": None,
        "n2": None,
        "n3": None,
        "n4": None,
        "n5": None,
        "q1": "010",
        "q2": "true",
        "underscore": "1_000",
        "sexagesimal": "1:20",
        "y": "y",
    }
    assert type(data["dec"]) is int and type(data["e1"]) is float and type(data["t1"]) is bool
    assert type(data["big"]) is float


def test_explicit_core_tags_are_allowed_and_checked(tmp_path: Path) -> None:
    good = write(tmp_path, "g.yaml", 'a: !!str 010\nb: !!int "12"\nc: !!float 3\nd: !!map {x: 1}\n')
    data, _ = load_document(good)
    assert data == {"a": "010", "b": 12, "c": 3.0, "d": {"x": 1}}
    assert type(data["c"]) is float
    bad = write(tmp_path, "b.yaml", "a: !!bool yes\nb: !!int 1.5\n")
    assert [(p.line, p.col, p.field, p.message) for p in problems_of(bad)] == [
        (1, 4, "a", "'yes' is not a valid !!bool value"),
        (2, 4, "b", "'1.5' is not a valid !!int value"),
    ]


@pytest.mark.parametrize("text", [".inf", "-.inf", "+.Inf", ".INF", ".nan", ".NaN", "1e999"])
def test_non_finite_numbers_are_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "n.yaml", f"name: x\nlr: {text}\n")
    problem = only_problem(path)
    assert (problem.line, problem.col, problem.field) == (2, 5, "lr")
    assert problem.message == f"numbers must be finite; found {text}"


def test_non_finite_inside_a_list_has_its_index_in_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, "n.yaml", "stages:\n  - {blocks: 2}\n  - {blocks: .nan}\n")
    problem = only_problem(path)
    assert (problem.line, problem.col, problem.field) == (3, 14, "stages[1].blocks")


# --------------------------------------------------------------------------------------------
# refusals, each at its exact place


def test_duplicate_keys_are_all_reported_with_the_first_line(in_tmp: Path) -> None:
    write(
        in_tmp, "d.yaml", "name: a\nstem:\n  type: cifar\n  channels: 16\n  type: deep\nname: b\n"
    )
    problems = problems_of("d.yaml")
    assert [str(p) for p in problems] == [
        "d.yaml:5:3: stem.type: duplicate key 'type' (first defined on line 3)",
        "d.yaml:6:1: name: duplicate key 'name' (first defined on line 1)",
    ]


def test_duplicate_key_in_flow_mapping(in_tmp: Path) -> None:
    write(in_tmp, "d.yaml", "input: {channels: 3, size: 32, channels: 1}\n")
    assert str(only_problem("d.yaml")) == (
        "d.yaml:1:32: input.channels: duplicate key 'channels' (first defined on line 1)"
    )


def test_python_tag_is_refused_and_never_runs(in_tmp: Path) -> None:
    write(in_tmp, "evil.yaml", 'name: x\nstem: !!python/object/apply:os.system ["touch marker"]\n')
    problem = only_problem("evil.yaml")
    assert (problem.file, problem.line, problem.col, problem.field) == ("evil.yaml", 2, 7, "stem")
    assert problem.message.startswith("tag '!!python/object/apply:os.system' is not allowed")
    assert not (in_tmp / "marker").exists()


@pytest.mark.parametrize(
    ("text", "col", "tag"),
    [
        ("a: !!binary aGk=\n", 4, "!!binary"),
        ("a: !!set {x}\n", 4, "!!set"),
        ("a: !custom 1\n", 4, "!custom"),
        ("a: !!str [1]\n", 4, "!!str"),
    ],
)
def test_other_tags_are_refused(tmp_path: Path, text: str, col: int, tag: str) -> None:
    problem = only_problem(write(tmp_path, "t.yaml", text))
    assert (problem.line, problem.col) == (1, col)
    assert problem.message.startswith(f"tag '{tag}' is not allowed")


def test_anchor_and_alias_are_refused_with_a_hint(in_tmp: Path) -> None:
    write(in_tmp, "a.yaml", "name: x\nstem: &s {type: cifar}\nother: *s\n")
    problems = problems_of("a.yaml")
    assert [(p.line, p.col) for p in problems] == [(2, 7), (3, 8)]
    assert "found anchor '&s'" in problems[0].message
    assert "found alias '*s'" in problems[1].message
    for p in problems:
        assert p.message.startswith("anchors and aliases are not supported; use `extends`")


def test_billion_laughs_fails_fast_in_bounded_memory(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join(f"*a{i - 1}" for _ in range(9))
        lines.append(f"a{i}: &a{i} [{refs}]")
    path = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SpecError) as info:
            load_document(path)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 5 * 1024 * 1024
    problems = info.value.problems
    # one per anchor (10) and one per distinct alias name (9)
    assert len(problems) == 19
    assert (problems[0].line, problems[0].col) == (1, 5)
    assert all("anchors and aliases are not supported" in p.message for p in problems)


def test_non_string_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "k.yaml", "name: x\n1: one\ntrue: yes\n? [a, b]\n: c\n")
    problems = problems_of(path)
    assert [(p.line, p.col) for p in problems] == [(2, 1), (3, 1), (4, 3)]
    assert problems[0].message.startswith("mapping keys must be strings; found an integer '1'")
    assert problems[1].message.startswith("mapping keys must be strings; found a boolean 'true'")
    assert problems[2].message == "mapping keys must be strings; found a list"


def test_tab_indentation_points_at_the_tab(in_tmp: Path) -> None:
    write(in_tmp, "t.yaml", "name: x\nstem:\n\ttype: cifar\n")
    problem = only_problem("t.yaml")
    assert (problem.line, problem.col) == (3, 1)
    assert "tab" in problem.message and "spaces" in problem.message


def test_syntax_error_stops_at_the_first(in_tmp: Path) -> None:
    write(in_tmp, "s.yaml", "name: x\nstages: [1, 2\nshortcut: [\n")
    problem = only_problem("s.yaml")
    assert (problem.line, problem.col) == (3, 9)
    assert problem.message.startswith("invalid YAML: ")
    assert "while parsing a flow sequence at line 2, column 9" in problem.message


def test_mapping_value_error_location(in_tmp: Path) -> None:
    write(in_tmp, "s.yaml", "name: x: y\n")
    problem = only_problem("s.yaml")
    assert (problem.line, problem.col) == (1, 8)
    assert problem.message == "invalid YAML: mapping values are not allowed here"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n   # another\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    problem = only_problem(write(tmp_path, "e.yaml", text))
    assert (problem.line, problem.col, problem.field) == (1, 1, "")
    assert problem.message == (
        "the file is empty; a spec is a mapping with at least `name` and `stages`"
    )


@pytest.mark.parametrize(
    ("text", "found"),
    [("- a\n- b\n", "a list"), ("hello\n", "a string"), ("42\n", "an integer"), ("null\n", "null")],
)
def test_root_must_be_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    problem = only_problem(write(tmp_path, "r.yaml", text))
    assert (problem.line, problem.col) == (1, 1)
    assert problem.message == f"the top level must be a mapping, found {found}"


def test_multiple_documents_are_refused(in_tmp: Path) -> None:
    write(in_tmp, "m.yaml", "name: a\n---\nname: b\n")
    problem = only_problem("m.yaml")
    assert (problem.line, problem.col) == (2, 1)
    assert "more than one YAML document" in problem.message


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    problem = only_problem(path)
    assert problem.message == "nesting is deeper than 64 levels"


def test_missing_file(in_tmp: Path) -> None:
    assert str(only_problem("nope.yaml")) == "nope.yaml:1:1: cannot read the spec: no such file"


def test_directory(in_tmp: Path) -> None:
    (in_tmp / "specs").mkdir()
    problem = only_problem("specs")
    assert (problem.file, problem.line, problem.col) == ("specs", 1, 1)
    assert "directory" in problem.message


def test_not_utf8(in_tmp: Path) -> None:
    (in_tmp / "latin1.yaml").write_bytes(b"name: x\ndescription: caf\xe9\n")
    problem = only_problem("latin1.yaml")
    assert (problem.line, problem.col) == (1, 1)
    assert problem.message == (
        "the file is not valid UTF-8 (byte 0xe9 on line 2, byte 17 of the line)"
    )


def test_control_character(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"name: x\ndescription: a\x00b\n")
    problem = only_problem(path)
    assert (problem.line, problem.col) == (2, 15)
    assert "U+0000" in problem.message


def test_file_over_one_mib(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: x\n" + "#" * (1024 * 1024) + "\n", encoding="utf-8")
    problem = only_problem(path)
    assert (problem.line, problem.col) == (1, 1)
    assert "larger than 1 MiB" in problem.message


def test_utf8_bom_and_non_ascii_text_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffname: x\ndescription: café ✓\n".encode())
    data, sm = load_document(path)
    assert data == {"name": "x", "description": "café ✓"}
    assert sm.value(("description",)) == Location(str(path), 2, 14)


# --------------------------------------------------------------------------------------------
# source map


def test_source_map_keys_values_and_fallbacks(in_tmp: Path) -> None:
    write(
        in_tmp,
        "m.yaml",
        "name: m\n"
        "stem: {type: cifar, channels: 16}\n"
        "stages:\n"
        "  - blocks: 3\n"
        "    channels: 16\n"
        "  - {blocks: 3, channels: 32, stride: 2}\n",
    )
    data, sm = load_document("m.yaml")
    assert data["stages"][1] == {"blocks": 3, "channels": 32, "stride": 2}
    assert sm.key(("name",)) == Location("m.yaml", 1, 1)
    assert sm.value(("name",)) == Location("m.yaml", 1, 7)
    assert sm.value(("stem",)) == Location("m.yaml", 2, 7)
    assert sm.key(("stem", "channels")) == Location("m.yaml", 2, 21)
    assert sm.value(("stem", "channels")) == Location("m.yaml", 2, 31)
    assert sm.value(("stages", 0)) == Location("m.yaml", 4, 5)
    assert sm.key(("stages", 0, "channels")) == Location("m.yaml", 5, 5)
    assert sm.value(("stages", 1, "stride")) == Location("m.yaml", 6, 39)
    # a missing field falls back to its parent mapping; its key() to the parent's key
    assert sm.value(("stages", 0, "stride")) == Location("m.yaml", 4, 5)
    assert sm.value(("stem", "preact")) == Location("m.yaml", 2, 7)
    assert sm.key(("stem", "preact")) == Location("m.yaml", 2, 1)
    assert sm.value(("stages", 7, "blocks")) == Location("m.yaml", 4, 3)
    assert sm.value(()) == Location("m.yaml", 1, 1)
    assert ("stem", "type") in sm and ("stem", "nope") not in sm
    assert sm.problem(("stages", 1, "stride"), "must be 1 or 2") == Problem(
        "m.yaml", 6, 39, "stages[1].stride", "must be 1 or 2"
    )
    assert str(sm.problem(("stem", "colour"), "unknown field", at="key")) == (
        "m.yaml:2:1: stem.colour: unknown field"
    )


def test_unlocated_source_map() -> None:
    sm = SourceMap.unlocated("<dict>")
    assert sm.value(("a", 0)) == Location("<dict>", 1, 1)
    assert str(sm.problem(("a", 0), "bad")) == "<dict>:1:1: a[0]: bad"


def test_load_string() -> None:
    data, sm = load_string("name: x\nnum_classes: 10\n", "inline.yaml")
    assert data == {"name": "x", "num_classes": 10}
    assert sm.value(("num_classes",)) == Location("inline.yaml", 2, 14)


# --------------------------------------------------------------------------------------------
# extends


BASE = """\
name: base
num_classes: 1000
stem: {type: imagenet, channels: 64}
block:
  type: bottleneck
  stride_on: 3x3
  groups: 1
stages:
  - {blocks: 3, channels: 64}
  - {blocks: 4, channels: 128, stride: 2}
shortcut: projection
"""


def test_extends_merges_mappings_and_replaces_lists(in_tmp: Path) -> None:
    write(in_tmp, "specs/base.yaml", BASE)
    write(
        in_tmp,
        "specs/child.yaml",
        "name: child\n"
        "extends: base.yaml\n"
        "block: {groups: 32, width_per_group: 4}\n"
        "stages:\n"
        "  - {blocks: 2, channels: 64}\n"
        "description: a child\n",
    )
    data, sm = load_document("specs/child.yaml")
    assert data == {
        "name": "child",
        "num_classes": 1000,
        "stem": {"type": "imagenet", "channels": 64},
        "block": {"type": "bottleneck", "stride_on": "3x3", "groups": 32, "width_per_group": 4},
        "stages": [{"blocks": 2, "channels": 64}],
        "shortcut": "projection",
        "description": "a child",
    }
    assert list(data) == [
        "name",
        "num_classes",
        "stem",
        "block",
        "stages",
        "shortcut",
        "description",
    ]
    assert list(data["block"]) == ["type", "stride_on", "groups", "width_per_group"]
    # inherited values point into the base file, overrides into the child
    base, child = "specs/base.yaml", "specs/child.yaml"
    assert sm.value(("num_classes",)) == Location(base, 2, 14)
    assert sm.key(("num_classes",)) == Location(base, 2, 1)
    assert sm.value(("stem", "channels")) == Location(base, 3, 34)
    assert sm.key(("block", "stride_on")) == Location(base, 6, 3)
    assert sm.value(("block", "groups")) == Location(child, 3, 17)
    assert sm.key(("block",)) == Location(child, 3, 1)
    assert sm.value(("name",)) == Location(child, 1, 7)
    assert sm.value(("stages", 0, "blocks")) == Location(child, 5, 14)
    assert sm.value(("stages", 1)) == Location(child, 5, 3)  # no second stage: the list's place
    assert sm.value(("description",)) == Location(child, 6, 14)
    assert "extends" not in data and ("extends",) not in sm


def test_three_level_chain_across_folders(in_tmp: Path) -> None:
    write(
        in_tmp, "specs/common/c.yaml", "name: c\nnum_classes: 10\ninput: {channels: 3, size: 32}\n"
    )
    write(in_tmp, "specs/b.yaml", "extends: common/c.yaml\nname: b\ninput: {size: 64}\n")
    write(in_tmp, "specs/a/a.yaml", "extends: ../b.yaml\nname: a\nnum_classes: 100\n")
    data, sm = load_document("specs/a/a.yaml")
    assert data == {"name": "a", "num_classes": 100, "input": {"channels": 3, "size": 64}}
    assert sm.value(("input", "channels")) == Location("specs/common/c.yaml", 3, 19)
    assert sm.value(("input", "size")) == Location("specs/b.yaml", 3, 15)
    assert sm.value(("num_classes",)) == Location("specs/a/a.yaml", 3, 14)
    assert sm.value(("input",)) == Location("specs/b.yaml", 3, 8)


def test_child_scalar_replaces_base_mapping_and_vice_versa(in_tmp: Path) -> None:
    write(in_tmp, "b.yaml", "stem: {type: cifar}\nblock: basic\n")
    write(in_tmp, "a.yaml", "extends: b.yaml\nstem: null\nblock: {type: bottleneck}\n")
    data, _ = load_document("a.yaml")
    assert data == {"stem": None, "block": {"type": "bottleneck"}}


def test_extends_cycle_names_the_chain(in_tmp: Path) -> None:
    write(in_tmp, "a.yaml", "name: a\nextends: b.yaml\n")
    write(in_tmp, "b.yaml", "name: b\nextends: a.yaml\n")
    assert str(only_problem("a.yaml")) == "a.yaml:2:10: extends: cycle a.yaml -> b.yaml -> a.yaml"


def test_extends_self_cycle_and_cycle_further_down(in_tmp: Path) -> None:
    write(in_tmp, "self.yaml", "extends: ./self.yaml\n")
    assert str(only_problem("self.yaml")) == "self.yaml:1:10: extends: cycle self.yaml -> self.yaml"
    write(in_tmp, "top.yaml", "extends: x.yaml\n")
    write(in_tmp, "x.yaml", "extends: y.yaml\n")
    write(in_tmp, "y.yaml", "extends: x.yaml\n")
    assert str(only_problem("top.yaml")) == "x.yaml:1:10: extends: cycle x.yaml -> y.yaml -> x.yaml"


def test_extends_missing_base(in_tmp: Path) -> None:
    write(in_tmp, "specs/child.yaml", "name: c\nextends:   nope.yaml\n")
    assert str(only_problem("specs/child.yaml")) == (
        "specs/child.yaml:2:12: extends: base file 'nope.yaml' not found "
        "(resolved to specs/nope.yaml)"
    )


@pytest.mark.parametrize(
    ("value", "found"),
    [("[a.yaml]", "a list"), ("3", "an integer"), ("", "null"), ("''", "an empty string")],
)
def test_extends_must_be_a_string(in_tmp: Path, value: str, found: str) -> None:
    write(in_tmp, "c.yaml", f"name: c\nextends: {value}\n")
    problem = only_problem("c.yaml")
    assert (problem.file, problem.line, problem.field) == ("c.yaml", 2, "extends")
    assert problem.message.endswith(f"found {found}")


def test_problems_in_a_base_are_located_in_the_base(in_tmp: Path) -> None:
    write(in_tmp, "specs/base.yaml", "name: b\nname: again\n")
    write(in_tmp, "specs/child.yaml", "extends: base.yaml\n")
    assert str(only_problem("specs/child.yaml")) == (
        "specs/base.yaml:2:1: name: duplicate key 'name' (first defined on line 1)"
    )


def test_absolute_extends_stays_absolute(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", "num_classes: 7\n")
    child = write(tmp_path, "sub/child.yaml", f"extends: {base}\nname: c\n")
    data, sm = load_document(child)
    assert data == {"num_classes": 7, "name": "c"}
    assert sm.value(("num_classes",)) == Location(str(base), 1, 14)


def test_merged_values_are_finite_numbers(in_tmp: Path) -> None:
    write(in_tmp, "b.yaml", "lr: 1e-3\n")
    write(in_tmp, "a.yaml", "extends: b.yaml\nwd: 5e-5\n")
    data, _ = load_document(Path("a.yaml"))
    assert data == {"lr": 0.001, "wd": 5e-05}
    assert all(math.isfinite(v) for v in data.values())


def test_changing_a_mappings_type_replaces_it_whole(tmp_path: Path) -> None:
    """A basic block extending a bottleneck base drops the base's bottleneck-only fields."""
    (tmp_path / "base.yaml").write_text(
        "name: base\n"
        "block: {type: bottleneck, stride_on: 1x1, groups: 32}\n"
        "stages: [{blocks: 1, channels: 8}]\n"
    )
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\nblock: {type: basic}\n")
    data, source = load_document(tmp_path / "child.yaml")
    assert data["block"] == {"type": "basic"}
    assert source.value(("block", "type")).file.endswith("child.yaml")
    # the same type keeps merging key by key
    (tmp_path / "same.yaml").write_text(
        "extends: base.yaml\nname: same\nblock: {type: bottleneck, groups: 4}\n"
    )
    data, _ = load_document(tmp_path / "same.yaml")
    assert data["block"] == {"type": "bottleneck", "stride_on": "1x1", "groups": 4}


def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError) as info:
        load_document(fifo)
    assert "not a regular file" in str(info.value)
