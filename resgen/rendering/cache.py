"""The build cache: what lets ``resgen build`` and ``--check`` skip reading, validating, planning
and rendering the specs that did not change.

For each spec it renders, a build records an entry: the spec's inputs (the bytes of the spec and
of every base it extends, each with the path it was read by; the source name its header prints;
a fingerprint of the generator) and, per backend, the sha256 of the file the build writes. A
later build skips a spec only when its inputs are the same and each of its files on disk hashes
to that digest: each file is then byte for byte what a fresh build would write, so it is
current. Every other spec (changed inputs; a missing, stale, hand-edited or foreign file) is
read, rendered and its files judged exactly as without a cache: the cache never supplies a
file's contents nor a finding, it only says which specs need no work.

The generator's fingerprint covers resgen's version, every ``resgen/**/*.py`` and every template
(their bytes), the Python version, and the installed versions of the libraries that shape a
file (Jinja, pydantic, PyYAML): any change to them invalidates every entry.

Entries live in a user cache folder, never beside the generated files: ``$RESGEN_CACHE_DIR``,
else ``$XDG_CACHE_HOME/resgen``, else ``~/.cache/resgen``. An entry that cannot be read, parsed
or written is ignored in silence (``--no-cache`` bypasses them all): a cache never changes what a
build writes or reports, only how long it takes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from resgen._version import __version__
from resgen.errors import ResgenError
from resgen.files import read_regular
from resgen.spec.files import MAX_FILE_BYTES

FORMAT = 1
"""The entries' layout; a change gives every entry a new name and a new fingerprint."""

CACHE_ENV = "RESGEN_CACHE_DIR"

LIBRARIES = ("jinja2", "markupsafe", "pydantic", "pydantic_core", "yaml")
"""The libraries whose versions shape what a build writes (template engine, validation,
YAML); their installed distributions are part of the generator's fingerprint."""


def cache_dir() -> Path | None:
    """``$RESGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/resgen``, else ``~/.cache/resgen``; None
    when there is no home folder to put it in (then no cache is used)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "resgen"
    try:
        return Path.home() / ".cache" / "resgen"
    except RuntimeError:  # no $HOME and no password entry
        return None


def package_dir() -> Path:
    """The resgen package (this module is in its ``rendering`` folder)."""
    return Path(__file__).resolve().parents[1]


def templates_dir() -> Path:
    """Where :func:`resgen.rendering.render.templates_dir` finds the templates (the same rule,
    without importing Jinja): inside the installed package, or at the root of a checkout."""
    packaged = package_dir() / "templates"
    return packaged if packaged.is_dir() else package_dir().parent / "templates"


def _tree_files(root: Path, suffix: str | None) -> list[Path]:
    """Every file under ``root`` (with ``suffix``, when given), in a fixed order."""
    found: list[Path] = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if f != "__pycache__")
        found += [Path(folder, f) for f in sorted(files) if suffix is None or f.endswith(suffix)]
    return found


def _library_versions() -> list[str]:
    """The installed distributions (``*.dist-info`` names carry the version) beside each of
    :data:`LIBRARIES`, found without importing any of them; where none is found, the package's
    own file, its size and modification time."""
    lines: list[str] = []
    listed: dict[str, list[str]] = {}
    for name in LIBRARIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        if not origin:
            lines.append(f"{name}: absent")
            continue
        package = Path(origin).parent
        site = str(package.parent if origin.endswith("__init__.py") else package)
        if site not in listed:
            try:
                listed[site] = sorted(e for e in os.listdir(site) if e.endswith(".dist-info"))
            except OSError:
                listed[site] = []
        prefix = name.replace("_", "-").lower()
        dists = [d for d in listed[site] if d.replace("_", "-").lower().startswith(prefix + "-")]
        if not dists and name == "yaml":
            dists = [d for d in listed[site] if d.lower().startswith("pyyaml-")]
        if dists:
            lines.append(f"{name}: {origin} {' '.join(dists)}")
        else:
            st = os.stat(origin)
            lines.append(f"{name}: {origin} {st.st_size} {st.st_mtime_ns}")
    return lines


def generator_fingerprint() -> str:
    """sha256 over everything but the spec that decides what a build writes (see the module)."""
    digest = hashlib.sha256()
    for line in (f"format {FORMAT}", f"resgen {__version__}", f"python {sys.version}"):
        digest.update(line.encode() + b"\n")
    for line in _library_versions():
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    for root, suffix in ((package_dir(), ".py"), (templates_dir(), None)):
        for path in _tree_files(root, suffix):
            data = path.read_bytes()
            name = path.relative_to(root).as_posix()
            digest.update(f"{root.name}/{name} {len(data)}\n".encode("utf-8", "surrogateescape"))
            digest.update(data)
    return digest.hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checksum(entry: Mapping[str, object]) -> str:
    """sha256 of an entry's canonical JSON: a truncated or damaged entry is no entry."""
    return sha256(json.dumps(entry, sort_keys=True, ensure_ascii=True).encode())


def spec_key(spec_path: str | os.PathLike[str]) -> str:
    """The spec's path as the build opens it, made absolute without resolving anything (a base
    named ``../b.yaml`` is found from the folder as spelled, links included)."""
    return os.path.join(os.getcwd(), os.fspath(spec_path))


@dataclass(frozen=True)
class Entry:
    """What a build rendered from one spec: its name and, per backend, its file's sha256."""

    name: str
    outputs: Mapping[str, str]


class BuildCache:
    """Entries under ``folder/build/``, one JSON file per spec path, for one generator."""

    def __init__(self, folder: Path, generator: str | None = None) -> None:
        self.root = folder
        self.folder = folder / "build"
        self._generator = generator

    @classmethod
    def default(cls) -> BuildCache | None:
        """The cache in :func:`cache_dir`, if there is one."""
        folder = cache_dir()
        return None if folder is None else cls(folder)

    @property
    def generator(self) -> str:
        if self._generator is None:
            self._generator = generator_fingerprint()
        return self._generator

    def _file(self, key: str) -> Path:
        name = sha256(f"{FORMAT}\0{key}".encode("utf-8", "surrogateescape"))[:40]
        return self.folder / f"{name}.json"

    def _read(self, key: str) -> dict | None:
        """The entry stored for ``key``, if it is whole (its own checksum holds)."""
        try:
            entry = json.loads(self._file(key).read_bytes())
            if not isinstance(entry, dict) or entry.pop("check", None) != _checksum(entry):
                return None
        except (OSError, ValueError, TypeError, RecursionError):  # RecursionError: deep JSON
            return None
        return entry

    def lookup(self, spec_path: Path, source: str, backends: Iterable[str]) -> Entry | None:
        """The entry for ``spec_path`` if its inputs are unchanged and it knows every backend's
        file; None on any doubt (no entry, a changed byte, an unreadable file, a corrupt entry)."""
        key = spec_key(spec_path)
        entry = self._read(key)
        if entry is None:
            return None
        try:
            reads, name, outputs = entry["reads"], entry["name"], entry["outputs"]
            if (
                entry.get("format") != FORMAT
                or entry.get("spec") != key
                or entry.get("source") != source
                or not (isinstance(name, str) and name.isascii() and name.isidentifier())
                or not isinstance(outputs, dict)
                or not isinstance(reads, list)
                or not reads
                or reads[0][0] != key
                or entry.get("generator") != self.generator
            ):
                return None
            wanted = {backend: outputs.get(backend) for backend in backends}
            if not all(isinstance(digest, str) for digest in wanted.values()):
                return None
            for path, digest in reads:
                if not (isinstance(path, str) and isinstance(digest, str)):
                    return None
                if sha256(read_regular(path, MAX_FILE_BYTES, what="spec")) != digest:
                    return None
        except (ResgenError, OSError, KeyError, TypeError, ValueError, IndexError):
            return None
        return Entry(name, wanted)  # type: ignore[arg-type]

    def store(
        self,
        spec_path: Path,
        source: str,
        reads: list[tuple[str, bytes]],
        name: str,
        outputs: Mapping[str, str],
    ) -> None:
        """Record what ``spec_path`` rendered to (``reads``: every file its load read, the spec
        first); files other backends rendered from the same inputs are kept. Never raises."""
        key = spec_key(spec_path)
        recorded = [[os.path.join(os.getcwd(), path), sha256(data)] for path, data in reads]
        try:
            generator = self.generator
        except OSError:  # a file of resgen's unreadable: nothing to key an entry on
            return
        if not recorded or recorded[0][0] != key:
            return
        entry = {
            "format": FORMAT,
            "generator": generator,
            "spec": key,
            "source": source,
            "reads": recorded,
            "name": name,
            "outputs": dict(outputs),
        }
        old = self._read(key)
        if old is not None and all(old.get(k) == entry[k] for k in entry if k != "outputs"):
            previous = old.get("outputs")
            if isinstance(previous, dict):
                entry["outputs"] = {**previous, **entry["outputs"]}
        payload = json.dumps({**entry, "check": _checksum(entry)}, sort_keys=True).encode()
        with contextlib.suppress(OSError, ValueError):
            self._write(self._file(key), payload)

    def _write(self, path: Path, payload: bytes) -> None:
        """A temporary file beside ``path`` moved into place (no fsync: a lost or truncated
        entry is only a miss)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # the user's own
        path.parent.mkdir(mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".entry-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(payload)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
