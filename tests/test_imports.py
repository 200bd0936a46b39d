"""Import boundaries: the spec side of the pipeline never reaches the rendering, building or
training side, and nothing but ``train`` and ``convert`` loads a framework (tests/test_cli.py
runs every command to check the second)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
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


@pytest.mark.parametrize(
    "start",
    [
        "resgen.spec.models",
        "resgen.spec.loader",
        "resgen.plan.network",
        "resgen.plan.planner",
        "resgen.check.rules",
        "resgen.check.validate",
    ],
)
def test_the_spec_side_never_imports_render_build_or_train(start: str) -> None:
    forbidden = (
        "resgen.rendering.render",
        "resgen.rendering.build",
        "resgen.train",
        "resgen.cli.commands",
        "resgen.weights.transfer",
    )
    reached = reachable(start)
    assert start in reached
    assert not {m for m in reached if m.startswith(forbidden)}, sorted(reached)


def test_the_rules_never_run_the_planner() -> None:
    """Cross-field rules read the spec (and the per-stage facts of resgen.plan.stages); the checks
    that need a plan get one from validate's post-plan step (issue 18)."""
    reached = reachable("resgen.check.rules")
    assert "resgen.plan.stages" in reached
    assert "resgen.plan.planner" not in reached, sorted(reached)


def test_component_kinds_stay_on_the_spec_side() -> None:
    """The registries import their kinds by listing their package, which the walk cannot
    follow: each kind module is walked here instead."""
    kinds = sorted((PACKAGE / "components").rglob("*.py"))
    assert len(kinds) >= 4
    forbidden = (
        "resgen.rendering.render",
        "resgen.rendering.build",
        "resgen.train",
        "resgen.cli.commands",
        "resgen.weights.transfer",
    )
    forbidden += ("resgen.plan.planner", "resgen.check.validate", "resgen.check.rules")
    for path in kinds:
        name = ".".join(["resgen", *path.relative_to(PACKAGE).with_suffix("").parts])
        name = name.removesuffix(".__init__")
        reached = reachable(name)
        assert not {m for m in reached if m.startswith(forbidden)}, (name, sorted(reached))


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
