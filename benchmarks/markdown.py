"""Markdown for the results page: one table helper and the few number formats it uses.

A table is a list of :class:`Column` (title, the row key or function giving the cell, alignment,
format) and a list of rows (dicts); a missing or ``None`` cell prints as ``n/a``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from benchmarks.common import Json

Cell = Callable[[Any], str]


@dataclass(frozen=True)
class Column:
    title: str
    value: str | Callable[[Json], Any]  # a row key, or a function of the row
    align: Literal["l", "r"] = "l"
    format: Cell = str

    def cell(self, row: Json) -> str:
        value = row.get(self.value) if isinstance(self.value, str) else self.value(row)
        return "n/a" if value is None else self.format(value).replace("|", "/")


def fixed(digits: int) -> Cell:
    return lambda value: f"{value:,.{digits}f}"


def ms(summary: Json | None) -> str:
    """A timing summary (seconds) as its median in milliseconds."""
    return "n/a" if not summary or not summary.get("n") else f"{1000 * summary['median']:.1f}"


def ms_iqr(summary: Json | None) -> str:
    if not summary or not summary.get("n"):
        return ""
    return f"{1000 * summary['q1']:.1f}-{1000 * summary['q3']:.1f}"


def spread(summary: Json | None, digits: int) -> str:
    """``median (min-max)`` of a summary, or ``n/a``."""
    if not summary or not summary.get("n"):
        return "n/a"
    return (
        f"{summary['median']:.{digits}f} ({summary['min']:.{digits}f}-{summary['max']:.{digits}f}"
        f", {summary['n']} runs)"
    )


def ratio(summary: Json | None) -> str:
    """``median (q1-q3)`` of a ratio summary, the median in bold."""
    if not summary or not summary.get("n"):
        return "n/a"
    return f"**{summary['median']:.3f}** ({summary['q1']:.3f}-{summary['q3']:.3f})"


def table(columns: Sequence[Column], rows: Sequence[Json]) -> list[str]:
    """A Markdown table and the blank line after it."""
    marks = ["---:" if c.align == "r" else "---" for c in columns]
    lines = ["| " + " | ".join(c.title for c in columns) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(c.cell(row) for c in columns) + " |" for row in rows]
    return [*lines, ""]


def provenance(data: Json | None) -> str:
    """When a section ran and how loaded the machine was (each section's JSON records it)."""
    if not data or "date_utc" not in data:
        return ""
    mode = ", smoke run" if data.get("quick") else ""
    return (
        f"_Section run {data['date_utc']}{mode}, {data.get('section_wall_s', 0):.0f} s; "
        f"1-minute load {data['load_at_start'][0]:.2f} at start, "
        f"{data['load_at_end'][0]:.2f} at end._"
    )
