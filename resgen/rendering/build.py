"""``resgen build``: render specs to ``<out>/<backend>/<name>.py``, or check they are current.

Every spec is validated before anything is written; every existing file that would be replaced
is inspected before the first write (a hand-edited or foreign file stops the build unless
``force``); each file is written atomically (:mod:`resgen.files`), so a build that fails
part-way leaves each file either as it was or complete.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from resgen.backends import Backend
from resgen.errors import Problem, ResgenError, SpecError
from resgen.files import read_regular, size_text, write_atomic

if TYPE_CHECKING:  # loaded where a spec is read: a build the cache answers needs neither
    from resgen.check.validate import Planned
    from resgen.rendering.cache import BuildCache
    from resgen.spec.models import Spec

ROOT_MARKERS = (".git", "pyproject.toml")

MAX_GENERATED_BYTES = 1024 * 1024
"""Largest file read back as a possible generated file (1 MiB): the longest generated file is a
few hundred lines, so anything larger was not written by resgen and is never read whole."""


@dataclass(frozen=True)
class Target:
    """One file a build produces."""

    spec_path: Path
    spec: Spec
    backend: Backend
    path: Path
    text: str


FindingKind = Literal["missing", "stale", "hand-edited", "not-generated", "orphaned"]


@dataclass(frozen=True)
class Finding:
    """Why one file is not what the build would write."""

    kind: FindingKind
    path: Path
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


def source_name(spec_path: Path) -> str:
    """The spec's path relative to its project root (the nearest folder with .git or
    pyproject.toml), in POSIX form: the same whatever the working directory or spelling."""
    real = spec_path.resolve()
    for folder in real.parents:
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return _utf8(real.relative_to(folder).as_posix())
    return _utf8(real.name)


def _utf8(path: str) -> str:
    """A path as its bytes read in UTF-8, whatever the locale: under ``LC_ALL=C`` Python
    decodes file names as ASCII, and ``é`` would become two undecodable bytes."""
    return os.fsencode(path).decode("utf-8", "surrogateescape")


def targets(
    paths: Iterable[str | os.PathLike[str]], backends: Sequence[Backend], out: Path
) -> list[Target]:
    """Validate every spec and render every file (nothing is written)."""
    from resgen.check.validate import load_all_planned

    found: list[Target] = []
    for spec_path, planned in load_all_planned(paths):
        found += _rendered(spec_path, planned, backends, out)
    return found


def _rendered(
    spec_path: Path, planned: Planned, backends: Sequence[Backend], out: Path
) -> list[Target]:
    from resgen.rendering.render import render

    spec, source = planned.spec, source_name(spec_path)
    return [
        Target(
            spec_path,
            spec,
            backend,
            out / backend / f"{spec.name}.py",
            render(spec, backend, source, planned.plan),
        )
        for backend in backends
    ]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _to_inspect(
    paths: Sequence[str | os.PathLike[str]],
    backends: Sequence[Backend],
    out: Path,
    cache: BuildCache | None,
) -> tuple[list[Target], list[Path], list[_Entry]]:
    """The targets a build must look at, rendered; the paths of all its targets; and the cache
    entries to record once the build is done.

    Without a cache: every target. With one: a spec whose inputs the cache knows, and whose
    files all hash to what it rendered last time, is neither read nor rendered (its files are
    current); every other spec is loaded and rendered as without a cache, and recorded. Any
    problem (a spec that fails, a name used twice) is found by the uncached path, so it is
    reported exactly as without a cache.
    """
    if cache is None:
        built = targets(paths, backends, out)
        return built, [t.path for t in built], []
    from resgen.spec.files import find_specs_and_problems

    found, problems = find_specs_and_problems(paths)
    if problems:
        return _to_inspect(paths, backends, out, None)  # raises, as an uncached build does
    names: dict[Path, str] = {}
    vouched: set[Path] = set()
    for spec_path in found:
        entry = cache.lookup(spec_path, source_name(spec_path), backends)
        if entry is None:
            continue
        names[spec_path] = entry.name
        files = [out / backend / f"{entry.name}.py" for backend in backends]
        if all(_hashes_to(file, entry.outputs[b]) for file, b in zip(files, backends, strict=True)):
            vouched.add(spec_path)
    try:
        missed = [p for p in found if p not in vouched]
        loaded, entries = _load_recorded(missed, backends, out, cache.root)
    except SpecError:
        return _to_inspect(paths, backends, out, None)
    names.update((t.spec_path, t.spec.name) for t in loaded)
    if len(set(names.values())) < len(found):  # a name used twice: the uncached path says where
        return _to_inspect(paths, backends, out, None)
    every = [out / backend / f"{names[p]}.py" for p in found for backend in backends]
    return loaded, every, entries


@dataclass(frozen=True)
class _Entry:
    """What the build cache records for one spec: the files its load read, its name, and the
    sha256 of each backend's file."""

    spec_path: Path
    reads: list[tuple[str, bytes]]
    name: str
    outputs: dict[str, str]

    def store(self, cache: BuildCache) -> None:
        source = source_name(self.spec_path)
        cache.store(self.spec_path, source, self.reads, self.name, self.outputs)


def _load_recorded(
    spec_paths: Sequence[Path], backends: Sequence[Backend], out: Path, cache_root: Path
) -> tuple[list[Target], list[_Entry]]:
    """Load and render each spec, noting the files it read and the digests of its files (the
    templates compiled once, into Jinja's bytecode cache under ``cache_root``)."""
    if not spec_paths:
        return [], []
    from resgen.check.validate import load_planned
    from resgen.rendering.render import use_bytecode_cache
    from resgen.spec.loader import recording_reads

    rendered: list[Target] = []
    entries: list[_Entry] = []
    use_bytecode_cache(cache_root)
    try:
        for spec_path in spec_paths:
            with recording_reads() as reads:
                planned = load_planned(spec_path)
            these = _rendered(spec_path, planned, backends, out)
            outputs = {t.backend: _sha256(t.text.encode("utf-8")) for t in these}
            entries.append(_Entry(spec_path, reads, planned.spec.name, outputs))
            rendered += these
    finally:
        use_bytecode_cache(None)
    return rendered, entries


def _hashes_to(path: Path, digest: str) -> bool:
    """Whether ``path`` is a regular file (of at most ``MAX_GENERATED_BYTES``) whose bytes
    hash to ``digest``."""
    try:
        raw = _read_generated_bytes(path)
    except (ResgenError, OSError):
        return False
    return raw is not None and _sha256(raw) == digest


def inspect(path: Path, expected: str) -> Finding | None:
    """Compare one file on disk with what the build would write.

    Only a regular file of at most ``MAX_GENERATED_BYTES`` is read (without blocking); anything
    else at the path (a FIFO, a device or a link to one, a larger file) was not written by
    resgen: a foreign file, replaced only with ``force``, never read or written through. A
    dangling link is a missing file, replaced by the build (never created where it points).
    """
    if path.is_dir():
        message = "a folder is where this generated file goes; move it"
        raise ResgenError(Problem.at_file(path, message))
    if not path.exists():  # a dangling link is a missing file: replaced, never followed
        return Finding("missing", path, "not built yet")
    current = _read_generated(path)
    if current is None:
        return Finding("not-generated", path, f"{_foreign(path)}; not written by resgen")
    if current == expected:
        return None
    from resgen.rendering.render import body_digest, body_of, read_header

    header = read_header(current)
    if header is None:
        return Finding("not-generated", path, "no resgen header; not written by resgen")
    if header.body_sha256 != body_digest(body_of(current)):
        return Finding("hand-edited", path, "edited by hand since it was generated")
    return Finding("stale", path, "out of date with its spec or with resgen's templates")


def _read_generated(path: Path) -> str | None:
    """The text of ``path`` if it can be a generated file (regular, at most 1 MiB), else None."""
    raw = _read_generated_bytes(path)
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _read_generated_bytes(path: Path) -> bytes | None:
    """The bytes of ``path`` if it can be a generated file (regular, at most 1 MiB), else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # a dangling link or a loop
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_GENERATED_BYTES:
        return None
    return read_regular(path, MAX_GENERATED_BYTES, what="existing file")


def _foreign(path: Path) -> str:
    """What a path that cannot be a generated file is, in words."""
    try:
        st = os.stat(path)
    except OSError:
        return "a link to a missing file" if os.path.islink(path) else "unreadable"
    if stat.S_ISREG(st.st_mode):
        return f"larger than {size_text(MAX_GENERATED_BYTES)}"
    if stat.S_ISFIFO(st.st_mode):
        return "a FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "a device, not a regular file"
    if stat.S_ISSOCK(st.st_mode):
        return "a socket, not a regular file"
    return "not a regular file"


def orphans(
    out: Path, backends: Sequence[Backend], built: Iterable[Target | Path]
) -> list[Finding]:
    """Generated files under ``out`` that no given spec produces any more (what is not a regular
    file of at most 1 MiB with resgen's header is not resgen's: it is never read nor reported);
    ``built`` holds the targets (or their paths)."""
    wanted = {t if isinstance(t, Path) else t.path for t in built}
    found: list[Finding] = []
    for backend in backends:
        folder = out / backend
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.py")):
            if path in wanted:
                continue
            text = _read_generated(path)
            if text is not None and _has_header(text):
                found.append(Finding("orphaned", path, "generated, but no spec builds it now"))
    return found


def _has_header(text: str) -> bool:
    from resgen.rendering.render import read_header

    return read_header(text) is not None


def check_out(out: Path, backends: Sequence[Backend]) -> None:
    """Refuse an output folder (or a ``<out>/<backend>`` folder) that is a file or worse."""
    for folder in (out, *(out / b for b in backends)):
        if os.path.lexists(folder) and not folder.is_dir():
            kind = "a file" if folder.is_file() else "not a folder"
            message = f"the output folder is {kind}; give --out a folder (it is created if missing)"
            raise ResgenError(Problem.at_file(folder, message))


def check(
    paths: Sequence[str | os.PathLike[str]],
    backends: Sequence[Backend],
    out: Path,
    *,
    cache: BuildCache | None = None,
) -> list[Finding]:
    """Everything that differs from a fresh build; orphans only when a folder was given.
    ``cache`` (:mod:`resgen.rendering.cache`) spares the work for specs that did not change."""
    check_out(out, backends)
    built, every, entries = _to_inspect(paths, backends, out, cache)
    findings = [f for t in built if (f := inspect(t.path, t.text)) is not None]
    if any(Path(p).is_dir() for p in paths):
        findings += orphans(out, backends, every)
    _remember(cache, entries)
    return findings


def build(
    paths: Sequence[str | os.PathLike[str]],
    backends: Sequence[Backend],
    out: Path,
    *,
    force: bool = False,
    cache: BuildCache | None = None,
) -> list[Path]:
    """Write every file that differs from its fresh rendering; return the paths written.
    ``cache`` (:mod:`resgen.rendering.cache`) spares the work for specs that did not change."""
    check_out(out, backends)
    built, _, entries = _to_inspect(paths, backends, out, cache)
    pending = [(t, inspect(t.path, t.text)) for t in built]
    pending = [(t, f) for t, f in pending if f is not None]
    refused = [f for _, f in pending if f.kind in ("hand-edited", "not-generated")]
    if refused and not force:
        message = "{}; refusing to overwrite (use --force)"
        raise ResgenError([Problem.at_file(f.path, message.format(f.detail)) for f in refused])
    written: list[Path] = []
    for target, _ in pending:
        try:
            write_atomic(target.path, target.text)
        except OSError as exc:
            state = (
                f"it was left as it was; the {len(written)} file(s) written before it are complete"
                if written
                else "no file was changed"
            )
            message = f"cannot write it ({exc.strerror or exc}); {state}"
            raise ResgenError(Problem.at_file(target.path, message)) from None
        written.append(target.path)
    _remember(cache, entries)
    return written


def _remember(cache: BuildCache | None, entries: Sequence[_Entry]) -> None:
    """Record what was rendered, once the build has done its work (never raises)."""
    if cache is not None:
        for entry in entries:
            entry.store(cache)
