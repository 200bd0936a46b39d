"""Run folders: ``resgen train`` replaces files only in a folder it recognises as its own.

A folder is a run folder when it holds the marker file :data:`MARKER` (written before anything
else when a run starts) or a ``summary.json`` that an earlier resgen wrote. A missing or empty
folder becomes one. Any other folder (``--out .`` in a project, a folder holding someone's
``model.py`` or ``checkpoint.pt``) is refused with exit 2 naming it, unless ``--force`` (train
into it anyway, replacing the run files) or ``--resume`` (whose checkpoint must then be a
resgen checkpoint of the same run).

A run holds its folder locked (:func:`lock`, an exclusive ``flock`` on the folder) from before
its first write until it ends; a second run into the same folder meanwhile is refused with one
line, so two runs never interleave one ``metrics.jsonl``. The lock goes with the process,
however it ends (kill -9 included).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from resgen.errors import ResgenError
from resgen.files import MIB, read_regular, write_atomic
from resgen.train.config import option_error

MARKER = ".resgen-run"
MARKER_TEXT = (
    "This folder is a run folder of `resgen train`: a new run in it replaces model.py,\n"
    "metrics.jsonl, summary.json, curves.png and the checkpoint.\n"
)
SUMMARY = "summary.json"
SUMMARY_KEYS = frozenset({"name", "backend", "weights_sha256", "status"})


def _has_resgen_summary(folder: Path) -> bool:
    try:
        record = json.loads(read_regular(folder / SUMMARY, MIB, what="run summary"))
    except (ResgenError, ValueError, RecursionError):
        return False
    return isinstance(record, dict) and set(record) >= SUMMARY_KEYS


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` is a resgen run folder (marker, or a summary resgen wrote)."""
    return (folder / MARKER).is_file() or _has_resgen_summary(folder)


def check(folder: Path, force: bool) -> None:
    """Refuse (exit 2, naming the folder) to start a run in a folder that is not resgen's."""
    if not folder.exists():
        if folder.is_symlink():
            raise option_error("--out", f"{folder}: a dangling link")
        return
    if not folder.is_dir():
        raise option_error("--out", f"{folder}: not a folder")
    if force or is_run_folder(folder) or not any(folder.iterdir()):
        return
    raise option_error(
        "--out",
        f"{folder}: not a resgen run folder (it holds files resgen train did not write); "
        "use another --out, --resume to continue a run, or --force to train into it anyway",
    )


def claim(folder: Path) -> None:
    """Make ``folder`` (if need be) and mark it as a run folder, before anything is written."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / MARKER).is_file():
        write_atomic(folder / MARKER, MARKER_TEXT)


@contextlib.contextmanager
def lock(folders: list[Path], resume: bool) -> Iterator[None]:
    """Hold each of ``folders`` locked for this run (a new run makes a missing one; resuming,
    a missing one has nothing to lock); refuse (exit 2) a folder another run holds. Where
    ``flock`` does not exist (Windows), folders are not locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    held: list[int] = []
    try:
        for folder in folders:
            if resume and not folder.is_dir():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
            held.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise option_error(
                    "--out",
                    f"{folder}: another resgen train run is using this folder; wait for it to "
                    "end or use another --out",
                ) from None
        yield
    finally:
        for fd in held:
            os.close(fd)
