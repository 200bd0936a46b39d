"""Lay out one logical line of Python the way ``ruff format`` does at 88 columns.

Templates write a call or a ``def`` on one line; where its length depends on the plan (a long
network name, optional arguments) the ``fit`` filter breaks it as ruff would, so generated files
are formatted by construction and no template counts columns.
"""

from __future__ import annotations

LINE_LENGTH = 88
INDENT = "    "
_OPEN = "([{"
_CLOSE = ")]}"


def _outer_parens(line: str) -> tuple[int, int]:
    """Indices of the first opening parenthesis outside strings and of its partner."""
    depth, start, quote = 0, -1, ""
    for i, char in enumerate(line):
        if quote:
            if char == quote and line[i - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in _OPEN:
            if depth == 0 and char == "(" and start < 0:
                start = i
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth == 0 and start >= 0:
                return start, i
    raise ValueError(f"no bracketed arguments to lay out in {line!r}")


def _split_arguments(text: str) -> list[str]:
    """Top-level comma-separated parts of an argument list."""
    parts, depth, quote, current = [], 0, "", []
    for i, char in enumerate(text):
        if quote:
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    last = "".join(current).strip()
    return [*parts, last] if last else parts


def fit(text: str) -> str:
    """One line as ruff formats it: unchanged where it fits, else split at its first brackets.

    Arguments go on one indented line where that fits ("hugged"), else one per line with a
    trailing comma; a ``def`` with a single parameter always goes one per line (ruff, like
    black, adds the trailing comma to a parameter list without commas, which then splits it).
    """
    newline = "\n" if text.endswith("\n") else ""
    line = text.removesuffix("\n")
    if len(line) <= LINE_LENGTH:
        return text
    indent = line[: len(line) - len(line.lstrip(" "))]
    start, end = _outer_parens(line)
    head, inner, tail = line[: start + 1], line[start + 1 : end], line[end:]
    inner_indent = indent + INDENT
    single_def = line.lstrip().startswith("def ") and len(_split_arguments(inner)) == 1
    if not single_def and len(inner_indent) + len(inner.strip()) <= LINE_LENGTH:
        body = [inner_indent + inner.strip()]
    else:
        body = [f"{inner_indent}{argument}," for argument in _split_arguments(inner)]
    return "\n".join([head, *body, indent + tail]) + newline
