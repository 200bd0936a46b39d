"""Safe output: ``resgen build`` writes only inside ``--out``, each file whole or not at all.

tests/test_build.py covers determinism, ``--check`` and refusing hand edits; this file covers
where files may land (traversal, symlinks, folders in the way), builds that fail part-way
(each file is then as it was or complete, and no temporary file lingers), file permissions,
and that ``--force`` is the only way past a file resgen did not write as it stands.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import LOCATED, REPO, copy_families, spec_path

from resgen.cli.commands import main
from resgen.rendering import build as builder
from resgen.rendering.render import Backend, templates_dir

SPECS = ("resnet18", "resnet34", "resnet20_cifar", "plain20_cifar", "resnet50", "resnet50d")


def spec_file(project: Path, name: str) -> Path:
    """Where a shipped spec sits in a test project: ``specs/<name>.yaml`` as in the repo."""
    return project / spec_path(name).relative_to(REPO)


KERAS_READY = (templates_dir() / "keras" / "model.py.j2").exists()
BACKENDS: tuple[Backend, ...] = ("torch", "keras") if KERAS_READY else ("torch",)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with a few shipped specs (pyproject.toml marks its root)."""
    for name in SPECS:
        target = spec_file(tmp_path, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(spec_path(name), target)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'user'\n")
    return tmp_path


def invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback: {result.exception!r}") from result.exception
    return result.exit_code, result.output


def assert_refused(code: int, output: str) -> None:
    assert code == 2, output
    assert "Traceback" not in output
    assert output.strip(), "refused without saying why"
    for line in output.splitlines():
        assert LOCATED.match(line), line


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (symlinks not followed), by relative path."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.tmp"))


def rendered(project: Path, out: Path) -> dict[str, bytes]:
    """What a successful build writes: relative path -> bytes."""
    return {
        str(t.path.relative_to(out)): t.text.encode()
        for t in builder.targets([project / "specs"], ("torch",), out)
    }


# --------------------------------------------------------------------------------------------
# where files land


def test_every_target_lies_directly_in_out_backend(project: Path, tmp_path: Path) -> None:
    """The file name comes from the validated name only, never from the spec's path."""
    deep = project / "a" / "b" / "c"
    deep.mkdir(parents=True)
    sneaky = deep / ".." / ".." / "evil name ..yaml"
    (project / "a" / "evil name ..yaml").write_text("extends: ../specs/resnet18.yaml\nname: tiny\n")
    out = tmp_path / "out"
    for target in builder.targets([sneaky, project / "specs"], BACKENDS, out):
        assert target.path.parent == out / target.backend
        assert target.path.name == f"{target.spec.name}.py"
        assert target.path.resolve().is_relative_to(out.resolve())
    code, output = invoke("build", sneaky, "--out", out)
    assert code == 0, output
    assert sorted(p.relative_to(tmp_path).as_posix() for p in out.rglob("*")) == [
        "out/torch",
        "out/torch/tiny.py",
    ]


def test_out_through_a_symlink(project: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    code, output = invoke("build", project / "specs", "--out", link)
    assert code == 0, output
    assert link.is_symlink(), "the link itself was replaced"
    assert snapshot(real) == rendered(project, real)
    assert invoke("build", project / "specs", "--out", real, "--check")[0] == 0
    assert invoke("build", project / "specs", "--out", link, "--check")[0] == 0
    assert leftovers(real) == []


def test_a_symlinked_target_is_replaced_not_followed(project: Path, tmp_path: Path) -> None:
    """A generated file that is a symlink to a file elsewhere: the link is replaced, the file
    it pointed to stays as it was (with --force for a foreign file, without for a stale one)."""
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    assert invoke("build", project / "specs", "--out", out)[0] == 0

    # a foreign file behind the link: refused without --force, then the link is replaced
    foreign = outside / "precious.py"
    foreign.write_text("precious = True\n")
    target = out / "torch" / "resnet18.py"
    target.unlink()
    target.symlink_to(foreign)
    assert_refused(*invoke("build", project / "specs", "--out", out))
    assert foreign.read_text() == "precious = True\n"
    assert invoke("build", project / "specs", "--out", out, "--force")[0] == 0
    assert foreign.read_text() == "precious = True\n"
    assert (
        not target.is_symlink()
        and target.read_bytes() == rendered(project, out)["torch/resnet18.py"]
    )

    # a stale generated file behind the link: rebuilt in place of the link, the original kept
    stale = outside / "stale.py"
    old = (out / "torch" / "resnet34.py").read_text()
    stale.write_text(old)
    with (spec_file(project, "resnet34")).open("a") as spec:
        spec.write("num_classes: 10\n")
    (out / "torch" / "resnet34.py").unlink()
    (out / "torch" / "resnet34.py").symlink_to(stale)
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    assert stale.read_text() == old
    assert not (out / "torch" / "resnet34.py").is_symlink()

    # a dangling link is a missing file: it is replaced, nothing is created where it pointed
    (out / "torch" / "resnet50d.py").unlink()
    (out / "torch" / "resnet50d.py").symlink_to(outside / "nowhere" / "x.py")
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    assert not (outside / "nowhere").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["precious.py", "stale.py"]


def test_a_hard_linked_target_is_replaced_not_written_through(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    target = out / "torch" / "resnet18.py"
    elsewhere = tmp_path / "vendored_copy.py"
    os.link(target, elsewhere)
    old = elsewhere.read_bytes()
    with (spec_file(project, "resnet18")).open("a") as spec:
        spec.write("dropout: 0.5\n")
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    assert elsewhere.read_bytes() == old
    assert target.read_bytes() != old


def test_a_folder_where_a_file_goes_is_refused(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "torch" / "resnet18.py").mkdir(parents=True)
    (out / "torch" / "resnet18.py" / "keep.txt").write_text("mine")
    (out / "torch" / "resnet34").mkdir()  # a folder named like the spec, without .py: harmless
    before = snapshot(out)
    code, output = invoke("build", project / "specs", "--out", out)
    assert_refused(code, output)
    assert f"{out / 'torch' / 'resnet18.py'}:1:1: " in output
    assert snapshot(out) == before, "a refused build wrote something"
    code, output = invoke("build", project / "specs", "--out", out, "--force")
    assert_refused(code, output)
    assert snapshot(out) == before
    # --check lists the folder as a problem too, rather than crashing
    assert_refused(*invoke("build", project / "specs", "--out", out, "--check"))
    shutil.rmtree(out / "torch" / "resnet18.py")
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    assert (out / "torch" / "resnet34").is_dir()


def test_a_folder_named_like_a_generated_file_is_not_an_orphan(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    (out / "torch" / "notes.py").mkdir()
    code, output = invoke("build", project / "specs", "--out", out, "--check")
    assert code == 0, output


def test_out_or_backend_folder_that_is_a_file(project: Path, tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    code, output = invoke("build", project / "specs", "--out", file)
    assert code == 2 and "Traceback" not in output
    out = tmp_path / "out"
    out.mkdir()
    (out / "torch").write_text("not a folder")
    code, output = invoke("build", project / "specs", "--out", out)
    assert_refused(code, output)
    assert (out / "torch").read_text() == "not a folder"
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------
# builds that fail part-way


@pytest.mark.parametrize("fail_at", [1, 2, 3, 5])
def test_replace_failing_part_way_leaves_old_or_new_files(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    out = tmp_path / "out"
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    old = snapshot(out)
    for name in SPECS:  # every spec changes: every file is rewritten
        spec = spec_file(project, name)
        spec.write_text(spec.read_text() + "dropout: 0.25\n")
    new = rendered(project, out)
    assert all(new[k] != old[k] for k in old)

    real_replace = os.replace
    calls = []

    def flaky_replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device", src)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    code, output = invoke("build", project / "specs", "--out", out)
    monkeypatch.undo()
    assert_refused(code, output)
    failed = Path(calls[-1])
    assert f"{failed}:1:1: cannot write it (No space left on device)" in output
    assert ".tmp" not in output, "the message names the temporary file"
    now = snapshot(out)
    assert set(now) == set(old)
    states = [
        ("new" if now[k] == new[k] else "old") for k in sorted(now) if now[k] in (old[k], new[k])
    ]
    assert len(states) == len(now), "a file is neither the old one nor the new one"
    assert states.count("new") == fail_at - 1
    assert leftovers(tmp_path) == []
    # the next build finishes the job
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    assert snapshot(out) == new


@pytest.mark.parametrize("failure", ["write", "fsync", "interrupt"])
def test_failure_while_writing_keeps_the_old_file(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """A full disk, an I/O error or Ctrl-C in the middle of writing one file."""
    out = tmp_path / "out"
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    old = snapshot(out)
    spec = spec_file(project, "resnet18")
    spec.write_text(spec.read_text().replace("num_classes: 1000", "num_classes: 7"))

    def broken(*args: object, **kwargs: object) -> None:
        if failure == "interrupt":
            raise KeyboardInterrupt
        raise OSError(5, "Input/output error")

    if failure == "fsync":
        monkeypatch.setattr(os, "fsync", broken)
    else:
        real_fdopen = os.fdopen

        def fdopen(*args: object, **kwargs: object):
            stream = real_fdopen(*args, **kwargs)  # type: ignore[call-overload]
            original = stream.write

            def write(text: str) -> int:
                original(text[: len(text) // 2])  # half the file reaches the disk
                broken()
                return 0

            stream.write = write
            return stream

        monkeypatch.setattr(os, "fdopen", fdopen)
    if failure == "interrupt":
        with pytest.raises(KeyboardInterrupt):
            builder.build([project / "specs"], ("torch",), out)
    else:
        assert_refused(*invoke("build", project / "specs", "--out", out))
    monkeypatch.undo()
    assert snapshot(out) == old
    assert leftovers(tmp_path) == []


def test_unwritable_folder_is_refused_and_changes_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only target folder (simulated where tests run as root, who may write anyway)."""
    out = tmp_path / "out"
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    old = snapshot(out)
    spec = spec_file(project, "resnet20_cifar")
    spec.write_text(spec.read_text().replace("num_classes: 10", "num_classes: 100"))
    folder = out / "torch"
    if os.geteuid() != 0:
        folder.chmod(0o555)
    else:
        real_mkstemp = tempfile.mkstemp

        def mkstemp(*args: object, dir: str | Path | None = None, **kwargs: object):
            if dir is not None and Path(dir) == folder:
                raise PermissionError(13, "Permission denied", str(dir))
            return real_mkstemp(*args, dir=dir, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    try:
        code, output = invoke("build", project / "specs", "--out", out)
    finally:
        folder.chmod(0o755)
        monkeypatch.undo()
    assert_refused(code, output)
    first = sorted(["plain20_cifar.py", "resnet20_cifar.py"])[0]  # both changed (extends)
    assert f"{folder / first}:1:1: cannot write it (Permission denied)" in output
    assert "no file was changed" in output
    assert snapshot(out) == old
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------
# permissions


def test_new_files_follow_the_umask_and_rewrites_keep_the_mode(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    previous = os.umask(0o022)
    try:
        assert invoke("build", project / "specs", "--out", out)[0] == 0
    finally:
        os.umask(previous)
    target = out / "torch" / "resnet18.py"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    target.chmod(0o640)
    spec = spec_file(project, "resnet18")
    spec.write_text(spec.read_text().replace("num_classes: 1000", "num_classes: 5"))
    assert invoke("build", project / "specs", "--out", out)[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert "num_classes: int = 5" in target.read_text()


# --------------------------------------------------------------------------------------------
# only --force overwrites what resgen did not write as it stands


EDITS = {
    "body_edit": lambda t: t.replace("NORM_EPS = 1e-05", "NORM_EPS = 2e-05"),
    "appended": lambda t: t + "\n# my note\n",
    "whitespace": lambda t: t.replace("\n\n\n", "\n\n", 1),
    "header_removed": lambda t: t.split("\n", 3)[3],
    "header_mangled": lambda t: t.replace("DO NOT EDIT.", "DO NOT EDIT", 1),
    "body_hash_zeroed": lambda t: re.sub(r"body-sha256: [0-9a-f]+", "body-sha256: " + "0" * 64, t),
    "emptied": lambda t: "",
    "binary": lambda t: "\udcff\x00garbage",
    "truncated": lambda t: t[: len(t) // 2],
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_only_force_overwrites_a_changed_file(project: Path, tmp_path: Path, edit: str) -> None:
    out = tmp_path / "out"
    spec = spec_file(project, "resnet18")
    assert invoke("build", spec, "--out", out)[0] == 0
    target = out / "torch" / "resnet18.py"
    fresh = target.read_bytes()
    changed = EDITS[edit](fresh.decode())
    target.write_bytes(changed.encode("utf-8", "surrogateescape"))
    edited = target.read_bytes()
    # also when the spec changed meanwhile (the file is stale as well as edited)
    for text in (spec.read_text(), spec.read_text().replace("num_classes: 1000", "num_classes: 9")):
        spec.write_text(text)
        code, output = invoke("build", spec, "--out", out)
        assert_refused(code, output)
        assert "refusing to overwrite (use --force)" in output
        assert target.read_bytes() == edited
        code, output = invoke("build", spec, "--out", out, "--check")
        assert code == 1 and ("hand-edited" in output or "not-generated" in output), output
        assert target.read_bytes() == edited
    assert invoke("build", spec, "--out", out, "--force")[0] == 0
    assert target.read_bytes() != edited
    assert invoke("build", spec, "--out", out, "--check")[0] == 0
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------
# determinism across locales (tests/test_build.py covers cwd, PYTHONHASHSEED, path spellings)


def available_locales() -> set[str]:
    done = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False)
    return {line.strip() for line in done.stdout.splitlines()}


def test_bytes_identical_across_locales_timezones_and_hash_seeds(tmp_path: Path) -> None:
    """The same tree under an ASCII C locale (no UTF-8 mode, no coercion), C.UTF-8,
    en_US.UTF-8 where installed, and POSIX; with a spec whose file name and description are not
    ASCII. Shipped specs also match the committed generated/ files."""
    project = tmp_path / "project"
    copy_families(("torchvision", "keras", "papers"), project / "specs")  # timm's 69 add time
    (project / "pyproject.toml").write_text("[project]\nname = 'user'\n")
    (project / "specs" / "d\u00e9mo \U0001f9ea.yaml").write_text(
        'name: demo\ndescription: "R\\u00e9sum\\u00e9, na\\u00efve \\U0001f9ea"\n'
        "num_classes: 3\ninput: {size: 8}\nstem: {type: cifar, channels: 4}\n"
        "block: {type: basic}\nstages:\n  - {blocks: 1, channels: 4}\n",
        encoding="utf-8",
    )
    locales = available_locales()
    runs = [
        {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "TZ": "UTC"},
        {"LC_ALL": "C.UTF-8", "TZ": "Asia/Kolkata"},
        {"LC_ALL": "POSIX", "PYTHONUTF8": "1", "TZ": "America/St_Johns"},
    ]
    if "en_US.utf8" in locales or "en_US.UTF-8" in locales:
        runs.append({"LC_ALL": "en_US.UTF-8", "TZ": "Pacific/Chatham"})
    backend = "all" if KERAS_READY else "torch"
    trees = []
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONUTF8"))}
    for i, extra in enumerate(runs):
        env = {**base, **extra, "PYTHONHASHSEED": str(i + 1), "LANG": extra["LC_ALL"]}
        command = [sys.executable, "-m", "resgen", "build", "specs", "--backend", backend]
        done = subprocess.run(
            [*command, "--out", f"out{i}"], cwd=project, env=env, capture_output=True, check=False
        )
        assert done.returncode == 0, (extra, done.stderr.decode(errors="replace"))
        trees.append(snapshot(project / f"out{i}"))
        # a tree built under one locale is current under every other
        check = subprocess.run(
            [*command, "--out", "out0", "--check"],
            cwd=project,
            env=env,
            capture_output=True,
            check=False,
        )
        assert check.returncode == 0, (extra, check.stdout.decode(errors="replace"))
    assert all(tree == trees[0] for tree in trees[1:])
    header = trees[0]["torch/demo.py"].split(b"\n", 1)[0]
    assert (
        header == b"# Code generated by resgen from specs/d\\xe9mo \\U0001f9ea.yaml. DO NOT EDIT."
    )
    for relative, data in trees[0].items():
        golden = REPO / "generated" / relative
        if relative != "torch/demo.py" and relative != "keras/demo.py" and golden.exists():
            assert data == golden.read_bytes(), relative
