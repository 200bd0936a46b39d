"""The one family of user-facing errors.

Everything a user can get wrong (a spec, a path, a flag) is raised as a :class:`ResgenError`
carrying one or more :class:`Problem` lines. The CLI prints them as
``file:line:col: field.path: message`` and exits 2; anything else is a bug.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def one_line(text: str) -> str:
    """``text`` with control characters escaped, so a message is always one line."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


@dataclass(frozen=True, order=True)
class Problem:
    """One located complaint about user input."""

    file: str
    line: int
    col: int
    field: str
    message: str

    @classmethod
    def at_file(cls, path: str | os.PathLike[str], message: str) -> Problem:
        """A complaint about a whole file (or folder), shown at its line 1, column 1."""
        return cls(one_line(os.fspath(path)), 1, 1, "", one_line(message))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ResgenError(Exception):
    """A mistake in user input; holds every problem found, sorted by place unless ``ordered``
    (a list whose order means something: a heading, then items in a model's order)."""

    def __init__(self, problems: list[Problem] | Problem, *, ordered: bool = False) -> None:
        items = [problems] if isinstance(problems, Problem) else list(problems)
        self.problems: list[Problem] = items if ordered else sorted(items)
        super().__init__("\n".join(str(p) for p in self.problems))


class SpecError(ResgenError):
    """A spec file that cannot be read, parsed or validated."""


def format_path(path: tuple[str | int, ...]) -> str:
    """Render a field path as users write it: ``stages[2].channels``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
