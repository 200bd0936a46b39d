"""The build cache (issue 22 part 4): a build in which nothing changed reads no spec and renders
nothing, and the cache changes nothing a build writes or reports.

The truth each test compares with is the uncached build (``--no-cache``, the path every other
build test holds), and which specs a build reads: ``resgen.check.validate.load_planned`` is counted,
the one function that reads a spec for ``build``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import REPO, spec_path

from resgen.check import validate
from resgen.cli.commands import main
from resgen.rendering import cache as buildcache

render = importlib.import_module(
    "resgen.rendering.render"
)  # `from resgen.rendering import render` is the function

SPECS = ("resnet18", "resnet34", "seresnet18", "resnet20_cifar", "plain20_cifar")
"""resnet34 and seresnet18 extend resnet18; plain20_cifar extends resnet20_cifar."""

BACKENDS = ("torch", "keras")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project holding a few shipped specs (pyproject.toml marks its root)."""
    (tmp_path / "specs").mkdir()
    for name in SPECS:
        shutil.copy(spec_path(name), tmp_path / "specs" / f"{name}.yaml")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'user'\n")
    return tmp_path


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stems of the specs ``build`` reads, in order (cleared by the test as it goes)."""
    seen: list[str] = []
    real = validate.load_planned

    def counting(path: str | os.PathLike[str]) -> validate.Planned:
        seen.append(Path(path).stem)
        return real(path)

    monkeypatch.setattr(validate, "load_planned", counting)
    return seen


def run(project: Path, *args: str) -> tuple[int, str]:
    """``resgen build specs --backend all --out gen ARGS`` in-process, in ``project``."""
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(project)
    try:
        result = runner.invoke(main, ["build", "specs", "--backend", "all", "--out", "gen", *args])
    finally:
        os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def files(project: Path) -> dict[str, tuple[bytes, int]]:
    """Every generated file: its bytes and its modification time (ns)."""
    gen = project / "gen"
    return {
        p.relative_to(gen).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(gen.rglob("*.py"))
    }


def entries() -> list[Path]:
    return sorted((Path(os.environ["RESGEN_CACHE_DIR"]) / "build").glob("*.json"))


def test_a_build_with_nothing_changed_reads_no_spec_and_writes_nothing(
    project: Path, loads: list[str]
) -> None:
    assert run(project)[0] == 0
    assert sorted(loads) == sorted(SPECS) and len(entries()) == len(SPECS)
    before = files(project)
    assert len(before) == len(SPECS) * len(BACKENDS)
    loads.clear()
    assert run(project) == (0, "nothing to do: every file is current\n")
    assert run(project, "--check") == (0, "all generated files are current\n")
    assert loads == []
    assert files(project) == before  # bytes and modification times
    # the uncached build agrees, and reads every spec
    assert run(project, "--check", "--no-cache") == (0, "all generated files are current\n")
    assert sorted(loads) == sorted(SPECS)


def test_editing_a_spec_or_a_base_reads_exactly_the_specs_it_shapes(
    project: Path, loads: list[str]
) -> None:
    assert run(project)[0] == 0
    before = files(project)
    loads.clear()
    spec = project / "specs" / "resnet34.yaml"
    spec.write_text(spec.read_text() + "dropout: 0.25\n")
    code, output = run(project, "--check")
    assert code == 1 and loads == ["resnet34"]
    assert output.splitlines()[:2] == [
        f"stale: gen/{b}/resnet34.py: out of date with its spec or with resgen's templates"
        for b in BACKENDS
    ]
    loads.clear()
    assert run(project)[0] == 0 and loads == ["resnet34"]
    after = files(project)
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == ["keras/resnet34.py", "torch/resnet34.py"]
    # a comment in a base: every spec extending it is read again, nothing is rewritten
    loads.clear()
    base = project / "specs" / "resnet18.yaml"
    base.write_text("# a comment\n" + base.read_text())
    assert run(project) == (0, "nothing to do: every file is current\n")
    assert sorted(loads) == ["resnet18", "resnet34", "seresnet18"]
    assert files(project) == after
    # a change in the base reaches the specs extending it (all read again), as without a cache
    loads.clear()
    base.write_text(base.read_text() + "dropout: 0.5\n")
    assert run(project)[0] == 0
    assert sorted(loads) == ["resnet18", "resnet34", "seresnet18"]
    final = files(project)
    changed = sorted({k.split("/")[1] for k in after if after[k] != final[k]})
    assert changed == ["resnet18.py", "seresnet18.py"]  # resnet34 sets its own dropout
    shutil.copytree(project / "gen", project / "cached")
    shutil.rmtree(project / "gen")
    assert run(project, "--no-cache")[0] == 0
    for path in (project / "gen").rglob("*.py"):
        assert (
            path.read_bytes()
            == (project / "cached" / path.relative_to(project / "gen")).read_bytes()
        )


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the templates that render and the cache's fingerprint both use."""
    copy = tmp_path / "templates"
    shutil.copytree(render.templates_dir(), copy)
    monkeypatch.setattr(render, "templates_dir", lambda: copy)
    monkeypatch.setattr(buildcache, "templates_dir", lambda: copy)
    render._environment.cache_clear()
    yield copy
    render._environment.cache_clear()


def test_editing_a_template_reads_every_spec_again(
    project: Path, loads: list[str], templates: Path
) -> None:
    assert run(project)[0] == 0
    before = files(project)
    loads.clear()
    assert run(project) == (0, "nothing to do: every file is current\n") and loads == []
    model = templates / "torch" / "model.py.j2"
    model.write_text(model.read_text() + "# one more line\n")
    render._environment.cache_clear()
    code, output = run(project, "--check")
    assert code == 1 and sorted(loads) == sorted(SPECS)
    stale = sorted(line.split(": ")[1] for line in output.splitlines()[:-1])
    assert stale == [f"gen/torch/{name}.py" for name in sorted(SPECS)]
    loads.clear()
    assert run(project)[0] == 0 and sorted(loads) == sorted(SPECS)
    after = files(project)
    assert sorted(k for k in before if before[k] != after[k]) == [
        f"torch/{name}.py" for name in sorted(SPECS)
    ]
    assert all(after[f"torch/{n}.py"][0].endswith(b"\n# one more line\n") for n in SPECS)


def test_fingerprint_covers_resgen_modules_and_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "resgen"
    shutil.copytree(buildcache.package_dir(), package, ignore=shutil.ignore_patterns("__pycache__"))
    copy = tmp_path / "templates"
    shutil.copytree(buildcache.templates_dir(), copy)
    monkeypatch.setattr(buildcache, "package_dir", lambda: package)
    monkeypatch.setattr(buildcache, "templates_dir", lambda: copy)
    first = buildcache.generator_fingerprint()
    assert buildcache.generator_fingerprint() == first
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    assert buildcache.generator_fingerprint() == first  # bytecode is no source
    planner = package / "plan" / "planner.py"
    planner.write_text(planner.read_text() + "\n")
    second = buildcache.generator_fingerprint()
    assert second != first
    (copy / "keras" / "model.py.j2").write_text("x")
    assert buildcache.generator_fingerprint() not in (first, second)


def test_the_cache_finds_the_templates_where_render_does() -> None:
    assert buildcache.templates_dir() == render.templates_dir()


def test_hand_edited_stale_missing_and_orphaned_files_are_found_as_without_a_cache(
    project: Path, loads: list[str]
) -> None:
    assert run(project)[0] == 0
    gen = project / "gen"
    original = (gen / "torch" / "resnet18.py").read_bytes()
    edited = original.replace(b"class ResNet(", b"class ResNet(  # mine\n", 1)
    assert edited != original
    (gen / "torch" / "resnet18.py").write_bytes(edited)
    shutil.copy(gen / "keras" / "resnet34.py", gen / "keras" / "seresnet18.py")  # another header
    (gen / "torch" / "plain20_cifar.py").unlink()
    shutil.copy(gen / "torch" / "resnet34.py", gen / "torch" / "resnet99.py")  # no spec builds it
    loads.clear()
    cached = run(project, "--check")
    assert sorted(loads) == ["plain20_cifar", "resnet18", "seresnet18"]  # only where files differ
    uncached = run(project, "--check", "--no-cache")
    assert cached == uncached
    assert cached[0] == 1
    assert cached[1].splitlines() == [
        "missing: gen/torch/plain20_cifar.py: not built yet",
        "hand-edited: gen/torch/resnet18.py: edited by hand since it was generated",
        "stale: gen/keras/seresnet18.py: out of date with its spec or with resgen's templates",
        "orphaned: gen/torch/resnet99.py: generated, but no spec builds it now",
        "4 file(s) not current; run the same command without --check",
    ]
    # the refusal, as without a cache: nothing is written
    code, output = run(project)
    assert code == 2
    assert "gen/torch/resnet18.py:1:1: edited by hand since it was generated" in output
    assert (gen / "torch" / "resnet18.py").read_bytes() == edited
    assert not (gen / "torch" / "plain20_cifar.py").exists()
    assert run(project, "--force")[0] == 0
    assert (gen / "torch" / "resnet18.py").read_bytes() == original
    assert run(project) == (0, "nothing to do: every file is current\n")


def test_a_foreign_file_is_refused_with_a_cache_that_knows_the_spec(project: Path) -> None:
    assert run(project)[0] == 0
    target = project / "gen" / "keras" / "resnet20_cifar.py"
    target.write_text("print('mine')\n")
    cached, uncached = run(project, "--check"), run(project, "--check", "--no-cache")
    assert cached == uncached
    assert "not-generated: gen/keras/resnet20_cifar.py: no resgen header" in cached[1]
    assert run(project)[0] == 2
    assert target.read_text() == "print('mine')\n"


def _one_digest_changed(raw: bytes) -> bytes:
    """Still JSON with the right keys, one digest changed: its checksum no longer holds."""
    entry = json.loads(raw)
    entry["outputs"]["torch"] = "0" * 64
    return json.dumps(entry).encode()


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: b"",
        lambda raw: raw[: len(raw) // 2],
        lambda raw: b"\xff\xfe not json",
        lambda raw: b"[]",
        lambda raw: _one_digest_changed(raw),
        lambda raw: b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["empty", "truncated", "bytes", "a-list", "one-digest", "deep"],
)
def test_a_damaged_entry_is_ignored(
    project: Path, loads: list[str], damage: Callable[[bytes], bytes]
) -> None:
    assert run(project)[0] == 0
    for entry in entries():
        entry.write_bytes(damage(entry.read_bytes()))
    loads.clear()
    assert run(project, "--check") == (0, "all generated files are current\n")
    assert sorted(loads) == sorted(SPECS)
    loads.clear()
    assert run(project, "--check") == (0, "all generated files are current\n")
    assert loads == []  # the damaged entries were replaced


def test_a_wrong_digest_with_a_valid_checksum_never_makes_a_file_stale(
    project: Path, loads: list[str]
) -> None:
    """An entry that says something other than the file (a wrong digest) costs a render; the
    file is judged by that render, never by the entry."""
    assert run(project)[0] == 0
    for path in entries():
        entry = json.loads(path.read_bytes())
        entry.pop("check")
        entry["outputs"] = {b: "0" * 64 for b in entry["outputs"]}
        path.write_text(json.dumps({**entry, "check": buildcache._checksum(entry)}))
    loads.clear()
    assert run(project, "--check") == (0, "all generated files are current\n")
    assert sorted(loads) == sorted(SPECS)


def test_an_unusable_cache_folder_changes_nothing(
    project: Path, loads: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("RESGEN_CACHE_DIR", str(blocked))
    code, output = run(project)
    assert code == 0 and output.count("wrote ") == len(SPECS) * len(BACKENDS)
    loads.clear()
    assert run(project) == (0, "nothing to do: every file is current\n")
    assert sorted(loads) == sorted(SPECS)  # nothing could be cached
    assert blocked.read_text() == "not a folder"


def test_no_cache_neither_reads_nor_writes_entries(project: Path, loads: list[str]) -> None:
    assert run(project, "--no-cache")[0] == 0
    assert entries() == []
    assert run(project)[0] == 0
    stored = {p: p.read_bytes() for p in entries()}
    assert len(stored) == len(SPECS)
    loads.clear()
    assert run(project, "--no-cache", "--check") == (0, "all generated files are current\n")
    assert sorted(loads) == sorted(SPECS)
    assert {p: p.read_bytes() for p in entries()} == stored


def test_a_name_used_twice_is_refused_when_each_spec_was_cached_alone(project: Path) -> None:
    other = project / "specs" / "sub"
    other.mkdir()
    text = (project / "specs" / "resnet20_cifar.yaml").read_text()
    (other / "copy.yaml").write_text(text)
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(project)
    try:
        for spec in ("specs/resnet20_cifar.yaml", "specs/sub/copy.yaml"):
            assert runner.invoke(main, ["build", spec, "--out", "gen"]).exit_code == 0
    finally:
        os.chdir(cwd)
    cached, uncached = run(project), run(project, "--no-cache")
    assert cached == uncached
    assert cached[0] == 2
    assert "'resnet20_cifar' is also the name of specs/resnet20_cifar.yaml" in cached[1]


def test_a_cached_build_imports_neither_pydantic_nor_jinja(project: Path) -> None:
    """The fast path loads only what it uses (checked in a child process's ``sys.modules``)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    build = [sys.executable, "-m", "resgen", "build", "specs", "--backend", "all", "--out", "gen"]
    done = subprocess.run(build, cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    probe = (
        "import sys\n"
        "from resgen.cli.commands import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "heavy = ('pydantic', 'jinja2', 'yaml', 'resgen.check.validate',\n"
        "         'resgen.rendering.render', 'rich')\n"
        "print(code, sorted(m for m in heavy if m in sys.modules))\n"
    )
    for extra in ([], ["--check"]):
        args = [sys.executable, "-c", probe, *build[3:], *extra]
        done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "0 []", done.stdout
    # the probe does see the modules when a spec must be read
    spec = project / "specs" / "resnet18.yaml"
    spec.write_text("# changed\n" + spec.read_text())
    done = subprocess.run(
        [sys.executable, "-c", probe, *build[3:], "--check"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    seen = "0 ['jinja2', 'pydantic', 'resgen.check.validate', 'resgen.rendering.render', 'yaml']"
    assert done.stdout.splitlines()[-1] == seen, done.stdout


def test_the_cache_lives_in_the_user_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESGEN_CACHE_DIR", "/somewhere/else")
    assert buildcache.cache_dir() == Path("/somewhere/else")
    monkeypatch.delenv("RESGEN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert buildcache.cache_dir() == Path("/xdg/resgen")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # the XDG spec ignores a relative path
    monkeypatch.setenv("HOME", "/home/someone")
    assert buildcache.cache_dir() == Path("/home/someone/.cache/resgen")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert buildcache.cache_dir() == Path("/home/someone/.cache/resgen")


def test_damaged_compiled_templates_are_compiled_again(project: Path, loads: list[str]) -> None:
    """Jinja's bytecode cache sits beside the entries; a damaged file there is compiled again."""
    render._environment.cache_clear()  # templates compiled by an earlier test are not written
    assert run(project)[0] == 0
    root = Path(os.environ["RESGEN_CACHE_DIR"])
    (compiled,) = root.glob("jinja2-*")
    assert len(list(compiled.iterdir())) > 10  # the templates a build uses
    for path in compiled.iterdir():
        path.write_bytes(path.read_bytes()[:40])
    render._environment.cache_clear()  # this process compiled them already
    for entry in entries():
        entry.unlink()  # every spec is rendered again
    loads.clear()
    assert run(project, "--check") == (0, "all generated files are current\n")
    assert sorted(loads) == sorted(SPECS)


def test_compiled_templates_are_kept_only_where_no_one_else_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    try:
        render.use_bytecode_cache(shared)
        assert render._environment().bytecode_cache is None
        render.use_bytecode_cache(tmp_path / "mine")
        assert render._environment().bytecode_cache is not None
        assert (tmp_path / "mine").stat().st_mode & 0o777 == 0o700
    finally:
        render.use_bytecode_cache(None)


def test_without_a_home_folder_the_build_uses_no_cache(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("RESGEN_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", no_home)
    assert buildcache.cache_dir() is None and buildcache.BuildCache.default() is None
    assert run(project)[0] == 0
    assert run(project) == (0, "nothing to do: every file is current\n")
