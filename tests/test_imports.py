"""Import boundaries: resgen/'s folders are the pipeline, and no import runs back up it (so the
spec side never reaches rendering, weights, training or the command line); no two modules import
each other in a circle; nothing but ``train`` and ``convert`` loads a framework
(tests/test_cli.py runs every command to check the last)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import REPO

PACKAGE = REPO / "resgen"
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")


def module_file(name: str) -> Path | None:
    """The source file of ``resgen.x.y`` (module or package), or None."""
    parts = name.split(".")[1:]
    for candidate in (
        PACKAGE.joinpath(*parts).with_suffix(".py"),
        PACKAGE.joinpath(*parts, "__init__.py"),
    ):
        if parts and candidate.is_file():
            return candidate
    return None


def resgen_imports(name: str) -> set[str]:
    """Every ``resgen`` module the source of ``name`` imports, at the top or inside a function."""
    path = module_file(name)
    assert path is not None, name
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "resgen"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            if base.split(".")[0] != "resgen":
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}
    return {m for m in found if module_file(m) is not None}


def reachable(start: str) -> set[str]:
    """``start`` and every resgen module it imports, directly or not (the package's own
    ``__init__`` aside: importing ``resgen.spec.models`` runs it, but spec.py does not ask for
    it)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name == "resgen":
            continue
        seen.add(name)
        todo += sorted(resgen_imports(name))
    return seen


# The pipeline, bottom to top (docs/architecture.md, "The folders"). A module may import its own
# package and the layers listed before it, never a later one: no import runs back up the
# pipeline, and packages side by side on one layer (weights/ and train/) do not import each other.
# The ground is the few modules at resgen/'s top that every package shares. Entry points (the API
# in resgen/__init__.py, ``python -m resgen``, ``python -m resgen.reference``) may import anything.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "files", "backends", "_version"),  # the ground
    ("components",),  # the kinds, and the layer records and names they are made of
    ("spec",),  # what a user writes: its unions come from the component registries
    ("plan",),  # every number and name a spec implies
    ("check",),  # a file to a checked spec and its plan (rules, validate)
    ("rendering",),  # a plan to files: page, templates, build
    ("weights", "train"),  # what runs the files: transfer, checkpoints, convert; training
    ("cli",),  # the command lines
)
ENTRY_POINTS = ("__init__", "__main__", "reference")
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def all_modules() -> list[str]:
    """Every module of the package, by dotted name (a package by its own name)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(["resgen", *path.relative_to(PACKAGE).with_suffix("").parts])
        names.append(name.removesuffix(".__init__"))
    return names


def part(name: str) -> str:
    """Which folder (or ground module, or entry point) of resgen/ a module is in."""
    return name.split(".")[1] if "." in name else "__init__"


def upward_imports(
    modules: list[str], imports: Callable[[str], set[str]] = resgen_imports
) -> list[str]:
    """Each import, direct or inside a function, that runs up the pipeline or sideways."""
    found = []
    for name in modules:
        here = part(name)
        if here in ENTRY_POINTS:
            continue
        for target in sorted(imports(name)):
            there = part(target)
            if there == here or (RANK[here] == RANK[there] == 0):
                continue
            if there in ENTRY_POINTS or RANK[there] >= RANK[here]:
                found.append(f"{name} ({here}) imports {target} ({there})")
    return found


def test_every_module_has_its_place_in_the_pipeline() -> None:
    """A new module goes into a folder of the pipeline; one left at resgen/'s top is placed
    here, on the ground or as an entry point, by decision."""
    modules = all_modules()
    assert len(modules) > 60
    assert [m for m in modules if part(m) not in RANK and part(m) not in ENTRY_POINTS] == []


def test_no_import_runs_back_up_the_pipeline() -> None:
    assert upward_imports(all_modules()) == []


def test_the_boundary_check_sees_an_upward_import() -> None:
    """The check is not vacuous: it reads real imports, and reports one up the pipeline or
    sideways while it lets one down the pipeline or within a folder pass."""
    assert "resgen.rendering.render" in resgen_imports("resgen.rendering.build")
    assert "resgen.plan.planner" in resgen_imports("resgen.check.validate")
    assert "resgen.components.naming" in resgen_imports("resgen.components.attention.se")
    wrong = {
        "resgen.plan.planner": {"resgen.rendering.render", "resgen.plan.network"},
        "resgen.components.attention.se": {"resgen.spec.models", "resgen.components.layers"},
        "resgen.weights.convert": {"resgen.train.session", "resgen.check.validate"},
        "resgen.files": {"resgen.errors", "resgen.cli.support"},
        "resgen.cli.commands": {"resgen.weights.convert", "resgen.train.session"},
    }
    assert upward_imports(sorted(wrong), wrong.__getitem__) == [
        "resgen.components.attention.se (components) imports resgen.spec.models (spec)",
        "resgen.files (files) imports resgen.cli.support (cli)",
        "resgen.plan.planner (plan) imports resgen.rendering.render (rendering)",
        "resgen.weights.convert (weights) imports resgen.train.session (train)",
    ]


def test_no_import_circle_between_modules() -> None:
    """The module graph has no circle, so no folder needs another's half-imported module."""
    graph = {m: sorted(resgen_imports(m) - {m}) for m in all_modules() if m != "resgen"}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError(" -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for target in graph.get(name, []):
            visit(target, [*path, name])
        done.add(name)

    for name in graph:
        visit(name, [])


def test_the_rules_never_run_the_planner() -> None:
    """Cross-field rules read the spec (and the per-stage facts of resgen.plan.stages); the checks
    that need a plan get one from validate's post-plan step (issue 18)."""
    reached = reachable("resgen.check.rules")
    assert "resgen.plan.stages" in reached
    assert "resgen.plan.planner" not in reached, sorted(reached)


def test_the_graph_walk_sees_real_imports() -> None:
    """The walk is not vacuous: it finds what the sources plainly import."""
    assert {
        "resgen.errors",
        "resgen.files",
        "resgen.spec.loader",
        "resgen.spec.models",
        "resgen.check.rules",
        "resgen.plan.network",
        "resgen.plan.planner",
    } <= reachable("resgen.check.validate")
    assert "resgen.rendering.render" in reachable("resgen.rendering.build")
    assert "resgen.cli.train_command" in reachable("resgen.cli.commands")


PROBE = textwrap.dedent(
    """
    import json, sys
    for name in sys.argv[1:]:
        __import__(name)
    print(json.dumps(sorted(sys.modules)))
    """
)


@pytest.mark.parametrize(
    "modules",
    [
        ["resgen"],
        [
            "resgen.spec.models",
            "resgen.spec.loader",
            "resgen.plan.network",
            "resgen.plan.planner",
            "resgen.check.validate",
            "resgen.spec.schema",
        ],
        [
            "resgen.rendering.build",
            "resgen.rendering.render",
            "resgen.plan.summary",
            "resgen.cli.commands",
            "resgen.cli.support",
            "resgen.weights.transfer",  # moves weights between frameworks the caller has imported
            "resgen.cli.train_command",  # `train` imports its framework only once it runs
        ],
    ],
)
def test_importing_resgen_loads_no_framework(modules: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(done.stdout)
    assert set(modules) <= set(loaded)
    assert [m for m in loaded if m.split(".")[0] in FRAMEWORKS] == []


# What each light command loads (issue 22): a command imports what it uses and nothing more, so
# `resgen --version` costs little more than the interpreter and a build does not pay for rich.
COMMAND_PROBE = textwrap.dedent(
    """
    import atexit, json, sys
    watched = sys.argv[1].split(",")
    atexit.register(
        lambda: print(json.dumps(sorted(m for m in watched if m in sys.modules)), file=sys.stderr)
    )
    sys.argv = ["resgen", *sys.argv[2:]]
    from resgen.cli.commands import main
    main()
    """
)
HEAVY = (
    "rich",
    "jinja2",
    "pydantic",
    "yaml",
    "resgen.spec.models",
    "resgen.rendering.render",
    "resgen.plan.planner",
)


@pytest.mark.parametrize(
    ("args", "loaded"),
    [
        (["--version"], set()),
        (["--help"], set()),
        (
            ["validate", "specs/resnet50.yaml"],
            {"pydantic", "yaml", "resgen.spec.models", "resgen.plan.planner"},
        ),
        (
            ["summary", "specs/resnet50.yaml", "--json"],
            {"pydantic", "yaml", "resgen.spec.models", "resgen.plan.planner"},
        ),
        (
            ["summary", "specs/resnet50.yaml"],
            {"rich", "pydantic", "yaml", "resgen.spec.models", "resgen.plan.planner"},
        ),
        (["build", "specs/resnet50.yaml", "--check"], set(HEAVY) - {"rich"}),
    ],
)
def test_each_command_loads_only_what_it_uses(args: list[str], loaded: set[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", COMMAND_PROBE, ",".join(HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(json.loads(done.stderr.strip().splitlines()[-1])) == loaded


def test_the_version_is_the_distributions() -> None:
    """``resgen --version`` reads resgen/_version.py (no importlib.metadata at start-up); it must
    be the version the installed distribution declares (pyproject.toml reads the same file)."""
    from importlib import metadata

    from resgen import __version__

    done = subprocess.run(
        [sys.executable, "-m", "resgen", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"resgen, version {__version__}"
    assert __version__ == metadata.version("resgen")
    assert 'path = "resgen/_version.py"' in (REPO / "pyproject.toml").read_text()


def test_one_name_for_the_backend_choice() -> None:
    """``Backend`` is defined once (resgen/backends.py); no module spells the choice again as a
    Literal of its own, and nothing else is called Backend (issue 18: page's Literal, the
    trainer's Protocol and config's BackendName were three)."""
    spelled = re.compile(r"Literal\[\s*\"(torch|keras)\",\s*\"(torch|keras)\"\s*\]")
    named = re.compile(r"^(class Backend\b|Backend\w* = |\w*BackendName\b)", re.M)
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name == "backends.py":
            assert spelled.search(text) and named.search(text)
            continue
        assert not spelled.search(text), path
        assert not named.search(text), path
