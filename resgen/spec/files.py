"""Which files are specs: files and folders named on the command line, expanded to spec paths.

Light on purpose (no YAML, no pydantic): ``build`` finds its specs here before it knows whether
its cache makes reading them unnecessary. :mod:`resgen.check.validate` re-exports
:func:`find_specs`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from resgen.errors import Problem, ResgenError, SpecError
from resgen.files import require_regular

SPEC_SUFFIXES = (".yaml", ".yml")

MAX_FILE_BYTES = 256 * 1024
"""Largest spec file read, in bytes (256 KiB): a spec is a page of text, not a data set."""


def find_specs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (their ``*.yaml``/``*.yml`` at any depth, sorted) into spec
    paths."""
    found, problems = find_specs_and_problems(paths)
    if problems:
        raise SpecError(problems)
    return found


def find_specs_and_problems(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[Path], list[Problem]]:
    """The spec paths under ``paths`` (each file once, however often it is named) and the
    located problems met finding them."""
    found: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            specs, trouble = _folder_specs(path)
            if not specs and not trouble:
                message = "no spec files (*.yaml, *.yml) in this folder"
                trouble.append(Problem.at_file(raw, message))
            found += specs
            problems += trouble
        elif os.path.lexists(path):
            found.append(path)  # the loader says what is wrong with it, if anything
        else:
            problems.append(Problem.at_file(raw, "no such file or folder"))
    seen: set[Path] = set()
    unique = []  # a file named twice (`specs specs/a.yaml`) is one spec, not a duplicate name
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique, problems


def _folder_specs(folder: Path) -> tuple[list[Path], list[Problem]]:
    """The regular ``*.yaml``/``*.yml`` files of ``folder`` and of its subfolders (a user's
    own grouping; the shipped specs are flat), sorted by path; every other entry with a spec's
    suffix (a FIFO, a device, a dangling link, a folder) is a located refusal, never skipped in
    silence.

    Hidden folders (``.git``, ``.venv``) and links to folders are not entered: a link could
    lead back up the tree, and nothing a spec folder ships hides.
    """
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        return [], [Problem.at_file(folder, f"cannot list the folder: {reason or exc}")]
    specs: list[Path] = []
    problems: list[Problem] = []
    for entry in entries:
        if entry.suffix not in SPEC_SUFFIXES:
            if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith("."):
                found, trouble = _folder_specs(entry)
                specs += found
                problems += trouble
            continue
        try:
            require_regular(entry, MAX_FILE_BYTES, what="spec")
        except ResgenError as exc:
            problems += exc.problems
            continue
        specs.append(entry)
    return specs, problems
