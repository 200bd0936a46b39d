"""The documentation against the repository: links that resolve, a README that fits, commands
that exist, and a shipped-spec table that lists exactly the shipped specs.

The truth each test uses is the repository itself (files on disk, ``specs/``) and resgen's own
click command tree, never the docs' text.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from helpers import REPO, shipped_specs, spec_family

from resgen.cli.commands import main

README = REPO / "README.md"
PAGES = sorted([README, *(REPO / "docs").glob("*.md")])
MAX_README_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = ("http://", "https://", "mailto:")


def without_code(text: str) -> str:
    """The Markdown outside fenced blocks and inline code, where links are links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = INLINE_CODE.sub(lambda match: match.group(2), heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub gives the headings of a page (repeats get -1, -2, ...)."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for match in HEADING.finditer(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def links(page: Path) -> Iterator[str]:
    for match in LINK.finditer(without_code(page.read_text(encoding="utf-8"))):
        target = match.group(1)
        if not target.startswith(EXTERNAL):
            yield target


def test_pages_found() -> None:
    names = {page.name for page in PAGES}
    expected = {"README.md", "spec-language.md", "spec-reference.md", "keras.md", "pytorch.md"}
    assert expected | {"architecture.md", "references.md", "guarantees.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_points_to_a_file_and_anchor_that_exist(page: Path) -> None:
    broken: list[str] = []
    for target in links(page):
        path_part, _, fragment = target.partition("#")
        file = (page.parent / path_part).resolve() if path_part else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no heading gives #{fragment} in {file.name}")
    assert not broken, "\n".join(broken)


def test_links_are_found_and_checked() -> None:
    """The link scanner sees links, skips code, and the anchor rule is GitHub's."""
    text = "[a](docs/x.md) ![b](p.png) `[c](not/a/link)` [d](https://e.org)\n```\n[f](g.md)\n```"
    assert [m.group(1) for m in LINK.finditer(without_code(text))] == [
        "docs/x.md",
        "p.png",
        "https://e.org",
    ]
    assert slug("Checkpoints, Ctrl-C, `--resume`") == "checkpoints-ctrl-c---resume"
    assert slug("block.attention, type: se") == "blockattention-type-se"


def test_readme_fits_in_250_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines"


def commands(text: str) -> Iterator[str]:
    """Every ``resgen ...``, ``bash scripts/...`` and ``python -m ...`` command the text shows:
    lines of fenced blocks (a ``$ `` prompt dropped) and inline code spans."""
    shown = [
        line.strip().removeprefix("$ ")
        for block in FENCE.finditer(text)
        for line in block.group(0).splitlines()[1:-1]
    ]
    shown += [match.group(2).strip() for match in INLINE_CODE.finditer(FENCE.sub("", text))]
    for line in shown:
        line = line.split(" #", 1)[0].replace("\\|", "|").rstrip("\\ ")
        for prefix in ("resgen ", "bash scripts/", "python -m ", ".venv/bin/python -m "):
            if line.startswith(prefix):
                yield line
                break


def option_names(command: click.Command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def module_exists(name: str) -> bool:
    """A module ``python -m`` finds from the repository root: a file or package there, or an
    installed one."""
    path = REPO.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file() or (path / "__main__.py").is_file():
        return True
    return importlib.util.find_spec(name) is not None


def problems_of(command_line: str) -> list[str]:
    """What a shown command names that does not exist: a subcommand, an option, a spec path,
    a script, a module."""
    try:
        words = shlex.split(command_line)
    except ValueError:
        words = command_line.split()
    # Placeholders (<section>, specs/<name>.yaml) name nothing to check.
    words = [word.strip("[]") for word in words if "<" not in word]
    found: list[str] = []
    if len(words) < 2:
        return found
    if words[0] == "bash":
        if not (REPO / words[1]).is_file():
            found.append(f"no script {words[1]}")
    elif words[0] in ("python", ".venv/bin/python"):
        if len(words) > 2 and not module_exists(words[2]):
            found.append(f"no module {words[2]}")
    elif words[0] == "resgen" and len(words) > 1 and not words[1].startswith("-"):
        command = main.commands.get(words[1])
        if command is None:
            return [f"no command 'resgen {words[1]}'"]
        known = option_names(command) | {"--help"}
        for word in words[2:]:
            option = word.split("=", 1)[0]
            if option.startswith("--") and option not in known:
                found.append(f"'resgen {words[1]}' has no option {option}")
    for word in words:
        if word.startswith("specs/") and not (REPO / word).exists():
            found.append(f"no spec path {word}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_command_shown_names_what_exists(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    shown = list(commands(text))
    if page == README:
        assert len(shown) >= 10, shown
    broken = [f"{line}: {problem}" for line in shown for problem in problems_of(line)]
    assert not broken, "\n".join(broken)


def test_the_command_check_catches_what_does_not_exist() -> None:
    assert problems_of("resgen build specs/ --backend all --check") == []
    assert problems_of("resgen train specs/resnet20_cifar.yaml --steps 3") == []
    assert problems_of("resgen biuld specs/") == ["no command 'resgen biuld'"]
    assert problems_of("resgen build specs/ --chek") == ["'resgen build' has no option --chek"]
    assert problems_of("resgen summary specs/resnet51.yaml") == ["no spec path specs/resnet51.yaml"]
    assert problems_of("bash scripts/nope.sh") == ["no script scripts/nope.sh"]
    assert problems_of("python -m resgen.nope --check") == ["no module resgen.nope"]


def readme_spec_table() -> dict[str, set[str]]:
    """The README's shipped-spec table: spec names by family."""
    table: dict[str, set[str]] = {}
    for row in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `(\w+)`[^|]*\| ([a-z0-9_ ]+) \|", row)
        if match:
            table.setdefault(match.group(1), set()).update(match.group(2).split())
    return table


def test_readme_spec_table_lists_exactly_the_shipped_specs() -> None:
    shipped: dict[str, set[str]] = {}
    for name, path in shipped_specs().items():
        shipped.setdefault(spec_family(path), set()).add(name)
    assert readme_spec_table() == shipped
    total = sum(len(names) for names in shipped.values())
    assert f"{total} specs" in README.read_text(encoding="utf-8")


PATH_IN_CODE = re.compile(
    r"^(?:resgen|tests|scripts|benchmarks|templates|specs|generated)/[\w./-]*$"
)
# A test cited by path (tests/x.py::test_y), or by a name of four words or more: shorter names
# are also fields and specs (test_loss, test_resnet).
TEST_NAME = re.compile(r"::(test_\w+)$|^(test(?:_[a-z0-9]+){3,})$")


def defined_tests() -> set[str]:
    """Every test function defined under tests/ (the truth for names the docs cite)."""
    found: set[str] = set()
    for path in (REPO / "tests").glob("test_*.py"):
        found.update(re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
    return found


def missing_names(text: str) -> list[str]:
    """What a page's inline code names that does not exist: a path such as `resgen/plan/network.py`,
    a test such as `tests/test_build.py::test_x` or `test_a_b_c`."""
    tests = defined_tests()
    broken: list[str] = []
    for match in INLINE_CODE.finditer(FENCE.sub("", text)):
        code = match.group(2).strip()
        path, _, _ = code.partition("::")
        if PATH_IN_CODE.match(path) and "<" not in path and not (REPO / path).exists():
            broken.append(f"{code}: no file {path}")
        cited = TEST_NAME.search(code)
        name = cited and (cited.group(1) or cited.group(2))
        if name and name not in tests:
            broken.append(f"{code}: no test function {name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_file_and_test_named_in_code_exists(page: Path) -> None:
    broken = missing_names(page.read_text(encoding="utf-8"))
    assert not broken, "\n".join(broken)


def test_the_name_check_catches_what_does_not_exist() -> None:
    text = (
        "`resgen/plan/network.py` `tests/test_docs.py::test_readme_fits_in_250_lines` `test_loss` "
        "`resgen/nope.py` `tests/test_build.py::test_nope` `test_no_such_test_here`"
    )
    assert missing_names(text) == [
        "resgen/nope.py: no file resgen/nope.py",
        "tests/test_build.py::test_nope: no test function test_nope",
        "test_no_such_test_here: no test function test_no_such_test_here",
    ]


def test_guarantees_say_how_many_specs_the_build_property_runs_in_ci() -> None:
    """docs/guarantees.md states the CI profile's counts; they are read here from
    tests/test_fuzz.py's own settings (parsed, not imported: it needs torch and hypothesis)."""
    import ast

    tree = ast.parse((REPO / "tests" / "test_fuzz.py").read_text(encoding="utf-8"))
    per_kind = kinds = regressions = None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "register_profile"
            and ast.literal_eval(node.args[0]) == "resgen-fuzz-ci"
        ):
            per_kind = next(k.value.value for k in node.keywords if k.arg == "max_examples")
        if (
            isinstance(node, ast.FunctionDef)
            and node.name == "test_valid_specs_build_run_and_agree"
        ):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == (
                    "parametrize"
                ):
                    kinds = len(ast.literal_eval(decorator.args[1]))
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "REGRESSIONS":
            regressions = len(node.value.elts)
    assert None not in (per_kind, kinds, regressions)
    text = " ".join((REPO / "docs" / "guarantees.md").read_text(encoding="utf-8").split())
    assert f"**In CI that is {per_kind * kinds} specs**" in text
    assert f"{per_kind} drawn from the basic block family, {per_kind} from the bottleneck" in text
    assert f"plus the {regressions} specs of `REGRESSIONS`" in text
    assert f"{per_kind * kinds} random specs, eight per block family" in text


MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|Users|tmp|root|mnt)/")


def test_no_docstring_in_the_tests_names_a_machine_path() -> None:
    """A test's sources are named as the repository holds them (``tests/data/...``), never by
    a path on the machine that wrote them (issue 21: test_summary named one)."""
    import ast

    found = []
    for path in sorted((REPO / "tests").glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        kinds = ast.FunctionDef | ast.ClassDef
        nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, kinds))]
        for node in nodes:
            text = ast.get_docstring(node) or ""
            if MACHINE_PATH.search(text):
                found.append(f"{path.name}:{getattr(node, 'lineno', 1)}")
    assert found == []
