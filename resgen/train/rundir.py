"""Run folders: ``resgen train`` replaces files only in a folder it recognises as its own.

A folder is a run folder when it holds the marker file :data:`MARKER` (written before anything
else when a run starts) or a ``summary.json`` that an earlier resgen wrote. A missing or empty
folder becomes one. Any other folder (``--out .`` in a project, a folder holding someone's
``model.py`` or ``checkpoint.pt``) is refused with exit 2 naming it, unless ``--force`` (train
into it anyway, replacing the run files) or ``--resume`` (whose checkpoint must then be a
resgen checkpoint of the same run).
"""

from __future__ import annotations

import json
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
