"""resgen.spec.loader: YAML 1.2 reading, refusals with exact locations, `extends`, the source
map."""

from __future__ import annotations

import math
import time
import tracemalloc
from pathlib import Path

import pytest

from resgen.errors import Problem, SpecError
from resgen.spec.loader import (
    MAX_CHAIN_BYTES,
    MAX_CHAIN_FILES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    Location,
    SourceMap,
    load_document,
    load_string,
)


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
    assert str(only_problem("a.yaml")) == (
        "a.yaml:2:7: anchors and aliases are not supported; use `extends` to reuse another spec "
        "(found 1 anchor and 1 alias in this file, the first here)"
    )


def test_anchors_and_aliases_are_one_line_per_file_with_a_count(in_tmp: Path) -> None:
    """A file full of them says so once, at the first; each file of a chain speaks for itself."""
    write(in_tmp, "base.yaml", "num_classes: 3\nx: &x 1\ny: *x\nz: *x\n")
    write(
        in_tmp,
        "a.yaml",
        "extends: base.yaml\nname: x\nstem: {type: cifar}\nb: [*s, *s, *s]\nc: &s 1\nd: &t 2\n",
    )
    problems = problems_of("a.yaml")
    assert [str(p) for p in problems] == [
        "a.yaml:4:5: anchors and aliases are not supported; use `extends` to reuse another spec "
        "(found 2 anchors and 3 aliases in this file, the first here)"
    ]
    write(in_tmp, "c.yaml", "extends: base.yaml\nname: c\n")
    assert only_problem("c.yaml").message.endswith(
        "(found 1 anchor and 2 aliases in this file, the first here)"
    )


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
    # one line for the file: 10 anchors, 81 aliases, the first anchor at line 1 column 5
    assert len(problems) == 1
    assert (problems[0].line, problems[0].col) == (1, 5)
    assert problems[0].message.endswith(
        "(found 10 anchors and 81 aliases in this file, the first here)"
    )


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


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_is_read_to_its_edge_and_refused_one_past_it(tmp_path: Path, style: str) -> None:
    """The top-level mapping is level 1: 63 more lists make 64 levels (read), 64 make 65
    (refused at the collection that opens level 65)."""

    def nested(levels: int) -> str:
        if style == "flow":
            return "a: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"
        return "a:\n  " + "- " * (levels - 2) + "[]\n"  # compact nested block sequences

    data, _ = load_document(write(tmp_path, "edge.yaml", nested(MAX_DEPTH)))
    depth, value = 1, data["a"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0] if value else None
    assert depth == MAX_DEPTH == 64
    problem = only_problem(write(tmp_path, "past.yaml", nested(MAX_DEPTH + 1)))
    assert problem.message == "nesting is deeper than 64 levels"
    if style == "flow":  # the 64th "[" opens level 65
        assert (problem.line, problem.col) == (1, 4 + MAX_DEPTH - 1)


def test_missing_file(in_tmp: Path) -> None:
    assert str(only_problem("nope.yaml")) == "nope.yaml:1:1: cannot read the spec: no such file"


def test_directory(in_tmp: Path) -> None:
    (in_tmp / "specs").mkdir()
    problem = only_problem("specs")
    assert (problem.file, problem.line, problem.col) == ("specs", 1, 1)
    assert problem.message == "cannot read the spec: it is a folder, not a regular file"


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


def test_file_over_the_size_bound(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: x\n#" + "#" * (MAX_FILE_BYTES - 10) + "\n", encoding="utf-8")
    assert path.stat().st_size == MAX_FILE_BYTES
    load_document(path)  # exactly at the bound: read
    path.write_text("name: x\n#" + "#" * (MAX_FILE_BYTES - 9) + "\n", encoding="utf-8")
    problem = only_problem(path)
    assert (problem.line, problem.col) == (1, 1)
    assert problem.message == "cannot read the spec: it is larger than 256 KiB"


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
    assert str(info.value) == (
        f"{fifo}:1:1: cannot read the spec: it is a FIFO (named pipe), not a regular file"
    )


# --------------------------------------------------------------------------------------------
# values that once raised tracebacks: every one is a located line


@pytest.mark.parametrize(
    ("literal", "shown"),
    [
        ("0x" + "f" * 5000, "0x" + "f" * 18 + "... (5,002 characters)"),
        ("0o" + "7" * 9000, "0o" + "7" * 18 + "... (9,002 characters)"),
        ("9" * 4301, "9" * 20 + "... (4,301 characters)"),
        ("9223372036854775808", "9223372036854775808"),  # 2**63
        ("-9223372036854775809", "-9223372036854775809"),
        ("0x8000000000000000", "0x8000000000000000"),
    ],
)
def test_integers_beyond_64_bits_are_refused(tmp_path: Path, literal: str, shown: str) -> None:
    problem = only_problem(write(tmp_path, "i.yaml", f"name: x\nnum_classes: {literal}\n"))
    assert (problem.line, problem.col, problem.field) == (2, 14, "num_classes")
    assert problem.message == (
        f"the integer {shown} is out of range; a spec's integers fit in 64 bits"
    )


def test_integers_at_the_64_bit_edges_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "i.yaml",
        "a: 9223372036854775807\nb: -9223372036854775808\nc: 0x7fffffffffffffff\n"
        "d: 0o777777777777777777777\ne: 000000000000000000000000000000000000000001\n",
    )
    data, _ = load_document(path)
    assert data == {"a": 2**63 - 1, "b": -(2**63), "c": 2**63 - 1, "d": 2**63 - 1, "e": 1}


def test_float_tag_with_a_huge_hex_payload_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", "name: x\nnorm: {eps: !!float 0x" + "f" * 400 + "}\n")
    problem = only_problem(path)
    assert (problem.line, problem.col, problem.field) == (2, 13, "norm.eps")
    assert problem.message.endswith("is out of range; a spec's integers fit in 64 bits")
    data, _ = load_document(write(tmp_path, "g.yaml", "eps: !!float 0x10\n"))
    assert data == {"eps": 16.0} and isinstance(data["eps"], float)


def test_extends_with_a_nul_byte_is_refused_at_its_line(in_tmp: Path) -> None:
    write(in_tmp, "a.yaml", 'name: x\nextends: "base\\0.yaml"\n')
    assert str(only_problem("a.yaml")) == (
        "a.yaml:2:10: extends: the path holds a NUL character; a file name cannot"
    )


# --------------------------------------------------------------------------------------------
# budgets: chain length, chain bytes, YAML nodes


def chain(directory: Path, length: int, extra: str = "") -> Path:
    """s0.yaml extends s1.yaml ... extends s<length-1>.yaml: ``length`` files in all."""
    for i in range(length):
        link = f"extends: s{i + 1}.yaml\n" if i + 1 < length else "num_classes: 7\n"
        write(directory, f"s{i}.yaml", f"{link}x{i}: {i}\n{extra}")
    return directory / "s0.yaml"


def test_longest_extends_chain_is_read(tmp_path: Path) -> None:
    data, source = load_document(chain(tmp_path, MAX_CHAIN_FILES))
    assert data["num_classes"] == 7 and len(data) == MAX_CHAIN_FILES + 1
    assert source.value(("x0",)).file.endswith("s0.yaml")


@pytest.mark.parametrize("length", [MAX_CHAIN_FILES + 1, 300, 2000])
def test_longer_extends_chains_are_refused_at_the_last_link(tmp_path: Path, length: int) -> None:
    """Hundreds of files deep once raised RecursionError; now the link past the bound says no."""
    problem = only_problem(chain(tmp_path, length))
    last = MAX_CHAIN_FILES - 1
    assert (Path(problem.file).name, problem.line, problem.col) == (f"s{last}.yaml", 1, 10)
    assert problem.message == (
        f"the extends chain is longer than {MAX_CHAIN_FILES} files; a spec needs a base or two"
    )


def test_extends_chain_bytes_are_bounded(tmp_path: Path) -> None:
    """Three files of 200 KiB each pass the per-file bound but not the chain's."""
    padding = "#" * (200 * 1024) + "\n"
    problem = only_problem(chain(tmp_path, 3, padding))
    assert MAX_CHAIN_BYTES < 3 * 200 * 1024 < 3 * MAX_FILE_BYTES
    assert (Path(problem.file).name, problem.line, problem.col) == ("s1.yaml", 1, 10)
    assert problem.message == (
        "the extends chain holds more than 512 KiB of spec text once base 's2.yaml' is added"
    )
    data, _ = load_document(chain(tmp_path, 2, padding))
    assert data["num_classes"] == 7


def test_extends_chain_bytes_at_the_edge_and_one_past_it(tmp_path: Path) -> None:
    """Two files at the per-file bound and a third of 100 bytes, less 100 in the first: exactly
    512 KiB is read; one more byte in the last base is refused at the link that adds it."""

    def padded(name: str, text: str, size: int) -> None:
        write(tmp_path, name, text + "#" * (size - len(text) - 1) + "\n")

    padded("a.yaml", "extends: b.yaml\n", MAX_FILE_BYTES - 100)
    padded("b.yaml", "extends: c.yaml\n", MAX_FILE_BYTES)
    for size, past in ((100, False), (101, True)):
        padded("c.yaml", "num_classes: 7\n", size)
        total = sum((tmp_path / f"{n}.yaml").stat().st_size for n in "abc")
        assert total == MAX_CHAIN_BYTES + past == 512 * 1024 + past
        if not past:
            assert load_document(tmp_path / "a.yaml")[0]["num_classes"] == 7
            continue
        problem = only_problem(tmp_path / "a.yaml")
        assert (Path(problem.file).name, problem.line, problem.col) == ("b.yaml", 1, 10)
        assert problem.message == (
            "the extends chain holds more than 512 KiB of spec text once base 'c.yaml' is added"
        )


def test_yaml_values_at_the_edge_and_one_past_it(tmp_path: Path) -> None:
    """Values counted by hand: the base's mapping, key, list and ``half`` items (half + 3); the
    spec's mapping, ``extends``, its path, key, list and ``n`` items (n + 5)."""
    half = MAX_NODES // 2
    write(tmp_path, "base.yaml", "a: [" + ",".join(["1"] * half) + "]\n")
    edge = MAX_NODES - (half + 3) - 5
    for n in (edge, edge + 1):
        write(tmp_path, "s.yaml", "extends: base.yaml\nb: [" + ",".join(["1"] * n) + "]\n")
        if n == edge:
            assert len(load_document(tmp_path / "s.yaml")[0]["b"]) == n
            continue
        problem = only_problem(tmp_path / "s.yaml")
        assert problem.message.startswith(f"the spec holds more than {MAX_NODES:,} YAML values")


def test_yaml_nodes_are_bounded_across_the_chain(tmp_path: Path) -> None:
    half = MAX_NODES // 2
    write(tmp_path, "base.yaml", "a: [" + ",".join(["1"] * half) + "]\n")
    write(tmp_path, "ok.yaml", "extends: base.yaml\nb: [" + ",".join(["1"] * (half - 10)) + "]\n")
    load_document(tmp_path / "ok.yaml")
    write(tmp_path, "big.yaml", "extends: base.yaml\nb: [" + ",".join(["1"] * half) + "]\n")
    started = time.perf_counter()
    problem = only_problem(tmp_path / "big.yaml")
    assert time.perf_counter() - started < 5
    assert Path(problem.file).name == "base.yaml" and problem.line == 1
    assert problem.message == (
        f"the spec holds more than {MAX_NODES:,} YAML values (with its bases); "
        "a spec is a page of text"
    )


# --------------------------------------------------------------------------------------------
# a base that is no spec is reported where the user named it


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"myhost\n", "the top level must be a mapping, found a string (at {base}:1:1)"),
        (b"127.0.0.1 localhost\n::1 localhost\n", "the top level must be a mapping, found a"),
        (b"\x7fELF\x02\x01\x01\x00\xff", "the file is not valid UTF-8"),
        (b"", "the file is empty; a spec is a mapping"),
        (b"[core]\n\tbare = false\n", "invalid YAML: a tab character here"),
        (b"- a\n- b\n", "the top level must be a mapping, found a list (at {base}:1:1)"),
    ],
)
def test_a_base_that_is_no_spec_is_reported_at_the_extends_line(
    in_tmp: Path, content: bytes, why: str
) -> None:
    (in_tmp / "etc").mkdir()
    (in_tmp / "etc" / "hostname").write_bytes(content)
    write(in_tmp, "specs/net.yaml", "name: net\nextends: ../etc/hostname\n")
    problem = only_problem("specs/net.yaml")
    assert (problem.file, problem.line, problem.col, problem.field) == (
        "specs/net.yaml",
        2,
        10,
        "extends",
    )
    prefix = "base '../etc/hostname' is not a spec: "
    assert problem.message.startswith(prefix + why.format(base="etc/hostname")), problem.message


@pytest.mark.parametrize("kind", ["folder", "fifo", "dangling", "device"])
def test_a_base_that_is_no_regular_file_is_refused_without_blocking(
    in_tmp: Path, kind: str
) -> None:
    import os

    base = in_tmp / "base.yaml"
    if kind == "folder":
        base.mkdir()
    elif kind == "fifo":
        os.mkfifo(base)
    elif kind == "dangling":
        base.symlink_to("gone.yaml")
    else:
        base.symlink_to("/dev/zero")
    write(in_tmp, "net.yaml", "name: net\nextends: base.yaml\n")
    problem = only_problem("net.yaml")
    assert (problem.file, problem.line, problem.col) == ("net.yaml", 2, 10)
    what = {
        "folder": "it is a folder, not a regular file",
        "fifo": "it is a FIFO (named pipe), not a regular file",
        "dangling": "it is a link to a missing file",
        "device": "it is a character device, not a regular file",
    }[kind]
    assert problem.message == (
        f"base 'base.yaml' is not a spec: cannot read the spec: {what} (at base.yaml:1:1)"
    )


def test_parsed_bases_are_reused_as_fresh_copies(specs_dir: Path) -> None:
    """A build reads each base once (the parse cache) and every spec still gets what a parse of
    its own would give: the same values, the same source positions, and its own copies."""
    from resgen.spec import loader

    paths = sorted(specs_dir.glob("*.yaml"))
    loader._PARSED.clear()
    fresh = []
    for path in paths:
        fresh.append(loader.load_document(path))
        loader._PARSED.clear()  # each spec parsed from its text alone: the independent truth
    for path, (data, where) in zip(paths, fresh, strict=True):
        cached, cached_where = loader.load_document(path)
        assert cached == data, path
        for key in data:
            assert str(cached_where.value((key,))) == str(where.value((key,))), (path, key)
    data, _ = loader.load_document(paths[0])
    data["stages"].clear()  # a caller's changes never reach the next reader
    again, _ = loader.load_document(paths[0])
    assert again["stages"] and again == fresh[0][0]
