"""Read a spec file into plain Python values and a map back to where each value was written.

YAML is read with YAML 1.2 core-schema meanings (``no`` is a string, ``010`` is ten, ``1e-5`` is a
number) and nothing but plain data: no tags beyond the core ones, no anchors or aliases (a spec
reuses another through ``extends``), no duplicate keys, no non-finite numbers. Values are built here
from PyYAML's node tree, never by a PyYAML constructor, so every value keeps its position.

Every mistake is raised as a :class:`~resgen.errors.SpecError` of located problems.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast

import yaml
from yaml.composer import Composer
from yaml.error import Mark, MarkedYAMLError, YAMLError
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    NodeEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from resgen.errors import Problem, SpecError, format_path, one_line

__all__ = ["MAX_FILE_BYTES", "Location", "SourceMap", "load_document", "load_string"]

MAX_FILE_BYTES = 1024 * 1024
"""Largest spec file read, in bytes (1 MiB): a spec is a page of text, not a data set."""

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted; a spec needs four or five levels."""

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ = _TAG + "map", _TAG + "seq"

# YAML 1.2.2, section 10.3.2 (core schema), tag resolution of plain scalars.
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
          |[-+]?\.(?:inf|Inf|INF)
          |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)

_EMPTY = "the file is empty; a spec is a mapping with at least `name` and `stages`"
_NO_ANCHORS = "anchors and aliases are not supported; use `extends` to reuse another spec"


@dataclass(frozen=True)
class Location:
    """Where something is written: the file as the user spelled it, 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class _Entry:
    """One value's place: where its key (None for the root and list items) and value are."""

    key: Location | None
    value: Location
    children: dict[str | int, _Entry] = field(default_factory=dict)


class SourceMap:
    """Answers "where was this written?" for a path into a loaded document.

    Paths are tuples of mapping keys and list indices, as pydantic reports them:
    ``("stages", 2, "channels")``. A path that does not exist (a missing field, say) falls back to
    its nearest existing ancestor.
    """

    def __init__(self, root: _Entry) -> None:
        self._root = root

    @classmethod
    def unlocated(cls, file: str) -> SourceMap:
        """A map that places everything at line 1, column 1 of ``file`` (for in-memory specs)."""
        return cls(_Entry(None, Location(file, 1, 1)))

    def _walk(self, path: tuple[str | int, ...]) -> tuple[_Entry, bool]:
        entry = self._root
        for part in path:
            child = entry.children.get(part)
            if child is None:
                return entry, False
            entry = child
        return entry, True

    def key(self, path: tuple[str | int, ...]) -> Location:
        """Where the key of the entry at ``path`` is written (a list item: where the item is)."""
        entry, _ = self._walk(path)
        return entry.key or entry.value

    def value(self, path: tuple[str | int, ...]) -> Location:
        """Where the value at ``path`` is written; for a missing entry, its parent's value."""
        entry, _ = self._walk(path)
        return entry.value

    def __contains__(self, path: object) -> bool:
        return isinstance(path, tuple) and self._walk(path)[1]

    def problem(self, path: tuple[str | int, ...], message: str, *, at: str = "value") -> Problem:
        """A :class:`Problem` about ``path``, placed at its key (``at="key"``) or its value."""
        if at not in ("key", "value"):
            raise ValueError(f"at must be 'key' or 'value', not {at!r}")
        loc = self.key(path) if at == "key" else self.value(path)
        return Problem(loc.file, loc.line, loc.col, one_line(format_path(path)), one_line(message))


def load_document(path: str | os.PathLike[str]) -> tuple[dict[str, Any], SourceMap]:
    """Read a spec file, resolve `extends` chains, return the merged mapping and its source map.

    Raises :class:`SpecError` (with every problem found) on a file that cannot be read or is not
    a valid spec document.
    """
    file = os.fspath(path)
    data, entry = _load_chain(file, file, [])
    return data, SourceMap(entry)


def load_string(text: str, file: str = "<string>") -> tuple[dict[str, Any], SourceMap]:
    """Like :func:`load_document` for text already in memory; ``file`` names it in problems and
    anchors a relative `extends` (its folder)."""
    data, entry = _parse(text, file)
    data, entry = _resolve_extends(data, entry, file, file, [])
    return data, SourceMap(entry)


# ---------------------------------------------------------------------------------------------
# extends


@dataclass(frozen=True)
class _Link:
    """One file on the current `extends` chain."""

    real: str  # os.path.realpath, to recognise a file however it is spelled
    shown: str  # as spelled / resolved for the user
    extends_at: Location  # where this file's `extends` value is written


def _load_chain(opened: str, shown: str, chain: list[_Link]) -> tuple[dict[str, Any], _Entry]:
    shown = one_line(shown)  # a newline in a file name must not split a problem's line
    data, entry = _parse(_read(opened, shown), shown)
    return _resolve_extends(data, entry, opened, shown, chain)


def _resolve_extends(
    data: dict[str, Any], entry: _Entry, opened: str, shown: str, chain: list[_Link]
) -> tuple[dict[str, Any], _Entry]:
    if "extends" not in data:
        return data, entry
    target = data.pop("extends")
    at = entry.children.pop("extends").value

    def fail(message: str, where: Location = at) -> SpecError:
        return SpecError(Problem(where.file, where.line, where.col, "extends", message))

    if not isinstance(target, str) or not target.strip():
        found = "an empty string" if isinstance(target, str) else _describe(target)
        raise fail(f"must be the path of a base spec file, relative to this file; found {found}")

    base_opened = os.path.join(os.path.dirname(opened), target)
    base_shown = os.path.normpath(os.path.join(os.path.dirname(shown), target))
    base_real = os.path.realpath(base_opened)
    chain = [*chain, _Link(os.path.realpath(opened), shown, at)]
    for i, link in enumerate(chain):
        if link.real == base_real:
            names = " -> ".join([*(lk.shown for lk in chain[i:]), link.shown])
            raise fail(f"cycle {names}", link.extends_at)
    if not os.path.exists(base_opened):
        raise fail(f"base file {_quote(target)} not found (resolved to {one_line(base_shown)})")

    base_data, base_entry = _load_chain(base_opened, base_shown, chain)
    merged, merged_entry = _merge(base_data, base_entry, data, entry)
    return merged, merged_entry


def _merge(base: Any, base_entry: _Entry, child: Any, child_entry: _Entry) -> tuple[Any, _Entry]:
    """Mappings merge key by key (the child wins); anything else is replaced whole.

    A mapping whose ``type`` differs from the base's is a different kind of thing (a basic
    block where the base has a bottleneck): it replaces the base's mapping whole, so fields
    only the old kind has are not carried over.
    """
    if not (isinstance(base, dict) and isinstance(child, dict)):
        return child, child_entry
    if "type" in child and child.get("type") != base.get("type"):
        return child, child_entry
    out = dict(base)
    children = dict(base_entry.children)
    for k, v in child.items():
        if k in out:
            out[k], children[k] = _merge(out[k], children[k], v, child_entry.children[k])
        else:
            out[k], children[k] = v, child_entry.children[k]
    return out, _Entry(child_entry.key, child_entry.value, children)


# ---------------------------------------------------------------------------------------------
# reading


def _read(opened: str, shown: str) -> str:
    """The file's text, or a SpecError located at its line 1, column 1."""

    def fail(message: str) -> SpecError:
        return SpecError(Problem(shown, 1, 1, "", message))

    try:
        # stat before opening: opening a named pipe would block until a writer appears
        if os.path.exists(opened) and not stat.S_ISREG(os.stat(opened).st_mode):
            if os.path.isdir(opened):
                raise IsADirectoryError(opened)
            raise fail("cannot read the spec: not a regular file")
        with open(opened, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise fail("cannot read the spec: no such file") from None
    except IsADirectoryError:
        raise fail("cannot read the spec: it is a directory, not a file") from None
    except PermissionError:
        raise fail("cannot read the spec: permission denied") from None
    except OSError as exc:
        raise fail(f"cannot read the spec: {one_line(exc.strerror or str(exc))}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise fail("the file is larger than 1 MiB; a spec is a short text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start : exc.start + 1].hex()
        raise fail(
            f"the file is not valid UTF-8 (byte 0x{bad} on line {line}, byte {col} of the line)"
        ) from None
    return text.removeprefix("\ufeff")


# ---------------------------------------------------------------------------------------------
# parsing


class _CoreResolver(BaseResolver):
    """Resolves plain scalars by the YAML 1.2 core schema (PyYAML's default is YAML 1.1)."""


_CoreResolver.add_implicit_resolver(_BOOL, _BOOL_RE, list("tTfF"))
_CoreResolver.add_implicit_resolver(_INT, _INT_RE, list("-+0123456789"))
_CoreResolver.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+0123456789."))
_CoreResolver.add_implicit_resolver(_NULL, _NULL_RE, ["~", "n", "N", ""])


class _SpecLoader(Reader, Scanner, Parser, Composer, _CoreResolver):
    """SafeLoader's reading machinery with YAML 1.2 resolution and no constructors at all."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _CoreResolver.__init__(self)


class _ReplayLoader(Composer, _CoreResolver):
    """Composes nodes from events already read and checked by :func:`_checked_events`."""

    def __init__(self, events: list[Event]) -> None:
        self._events = deque(events)
        Composer.__init__(self)
        _CoreResolver.__init__(self)

    def check_event(self, *choices: type[Event]) -> bool:
        return bool(self._events) and (not choices or isinstance(self._events[0], choices))

    def peek_event(self) -> Event:
        return self._events[0]

    def get_event(self) -> Event:
        return self._events.popleft()

    def dispose(self) -> None:
        self._events.clear()


def _checked_events(text: str, file: str) -> list[Event]:
    """The first document's events, refusing anchors, aliases, extra documents and deep nesting
    before any node is built (an alias bomb never gets composed)."""
    problems: list[Problem] = []

    def add(mark: Mark, message: str) -> None:
        problems.append(Problem(file, mark.line + 1, mark.column + 1, "", message))

    events: list[Event] = []
    aliases_seen: set[str] = set()
    depth = 0
    documents = 0
    loader = _SpecLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    add(
                        event.start_mark,
                        "the file holds more than one YAML document; a spec is one",
                    )
                    break
            if isinstance(event, AliasEvent):
                if event.anchor not in aliases_seen:
                    aliases_seen.add(event.anchor)
                    add(event.start_mark, f"{_NO_ANCHORS} (found alias '*{event.anchor}')")
                continue
            if isinstance(event, NodeEvent) and event.anchor is not None:
                add(event.start_mark, f"{_NO_ANCHORS} (found anchor '&{event.anchor}')")
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    add(event.start_mark, f"nesting is deeper than {MAX_DEPTH} levels")
                    break
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            events.append(event)
    finally:
        loader.dispose()
    if problems:
        raise SpecError(problems)
    return events


def _parse(text: str, file: str) -> tuple[dict[str, Any], _Entry]:
    """Parse one file's text (no `extends` handling) into a mapping and its entry tree."""
    try:
        events = _checked_events(text, file)
        node = yaml.compose(cast(Any, events), Loader=_ReplayLoader)  # events, not text
    except MarkedYAMLError as exc:
        raise SpecError(_syntax_problem(exc, text, file)) from None
    except ReaderError as exc:
        line, col = _line_col(text, exc.position)
        raise SpecError(Problem(file, line, col, "", _reader_message(exc))) from None
    except YAMLError as exc:  # no position known
        raise SpecError(Problem(file, 1, 1, "", one_line(str(exc)))) from None

    if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL and node.value == ""):
        raise SpecError(Problem(file, 1, 1, "", _EMPTY))
    builder = _Builder(file)
    data, entry = builder.build(node, (), None)
    if not isinstance(node, MappingNode):
        builder.add(
            node.start_mark, (), f"the top level must be a mapping, found {_describe(data)}"
        )
    if builder.problems:
        raise SpecError(builder.problems)
    return data, entry


def _syntax_problem(exc: MarkedYAMLError, text: str, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    if mark is not None and text[mark.index : mark.index + 1] == "\t":
        message = "a tab character here; YAML indentation must use spaces, not tabs"
    else:
        message = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context:
            cm = exc.context_mark
            where = f" at line {cm.line + 1}, column {cm.column + 1}" if cm is not None else ""
            message = f"{message} ({exc.context}{where})"
    return Problem(file, line, col, "", "invalid YAML: " + one_line(message))


def _reader_message(exc: ReaderError) -> str:
    char = exc.character
    code = ord(char) if isinstance(char, str) else int(char)
    return f"the file contains the control character U+{code:04X}, which YAML does not allow"


# ---------------------------------------------------------------------------------------------
# building values from nodes


class _Builder:
    """Turns a node tree into plain values and an entry tree, collecting every problem."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def loc(self, mark: Mark) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def add(self, mark: Mark, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(
            Problem(
                self.file,
                mark.line + 1,
                mark.column + 1,
                one_line(format_path(path)),
                one_line(message),
            )
        )

    def _refuse_tag(self, node: Node, path: tuple[str | int, ...]) -> None:
        tag = node.tag
        shown = "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
        self.add(
            node.start_mark,
            path,
            f"tag {_quote(shown)} is not allowed; a spec holds only plain strings, numbers, "
            "booleans, null, mappings and lists",
        )

    def build(
        self, node: Node, path: tuple[str | int, ...], key: Location | None
    ) -> tuple[Any, _Entry]:
        entry = _Entry(key, self.loc(node.start_mark))
        if isinstance(node, ScalarNode):
            return self.scalar(node, path), entry
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self._refuse_tag(node, path)
            items: list[Any] = []
            for i, item_node in enumerate(node.value):
                item, entry.children[i] = self.build(item_node, (*path, i), None)
                items.append(item)
            return items, entry
        assert isinstance(node, MappingNode)
        if node.tag != _MAP:
            self._refuse_tag(node, path)
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = self.key(key_node, path)
            if name is None:
                continue
            here = (*path, name)
            key_loc = self.loc(key_node.start_mark)
            if name in first_line:
                self.add(
                    key_node.start_mark,
                    here,
                    f"duplicate key {_quote(name)} (first defined on line {first_line[name]})",
                )
                self.build(value_node, here, key_loc)  # still report problems inside it
                continue
            first_line[name] = key_loc.line
            out[name], entry.children[name] = self.build(value_node, here, key_loc)
        return out, entry

    def key(self, node: Node, path: tuple[str | int, ...]) -> str | None:
        """The key's string, or None after reporting why it is not one."""
        if isinstance(node, ScalarNode) and node.tag == _STR:
            return node.value
        if isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT, _BOOL, _NULL):
            value = self.scalar(node, path)
            self.add(
                node.start_mark,
                path,
                f"mapping keys must be strings; found {_describe(value)} {node.value!r} "
                "(quote it to make it a string)",
            )
            return None
        if isinstance(node, ScalarNode):
            self._refuse_tag(node, path)
            return None
        value, _ = self.build(node, path, None)
        self.add(node.start_mark, path, f"mapping keys must be strings; found {_describe(value)}")
        return None

    def scalar(self, node: ScalarNode, path: tuple[str | int, ...]) -> Any:
        tag, text = node.tag, node.value
        if tag == _STR:
            return text
        patterns = {_NULL: _NULL_RE, _BOOL: _BOOL_RE, _INT: _INT_RE, _FLOAT: _FLOAT_RE}
        if tag not in patterns:
            self._refuse_tag(node, path)
            return None
        ok = patterns[tag].match(text) or (tag == _FLOAT and _INT_RE.match(text))
        if not ok:
            kind = tag[len(_TAG) :]
            self.add(node.start_mark, path, f"{text!r} is not a valid !!{kind} value")
            return None
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text.lower() == "true"
        if tag == _INT:
            try:
                return int(text, 0 if text.startswith(("0o", "0x")) else 10)
            except ValueError:  # more digits than Python converts
                self.add(node.start_mark, path, "the integer has too many digits")
                return None
        if text.startswith(("0o", "0x")):  # !!float 0x10
            return float(int(text, 0))
        number = float(text.replace(".", "") if "n" in text.lower() else text)  # .inf -> inf
        if not math.isfinite(number):
            self.add(node.start_mark, path, f"numbers must be finite; found {text}")
            return None
        return number


# ---------------------------------------------------------------------------------------------
# wording


def _describe(value: Any) -> str:
    """A value's kind in words, with its article: ``a list``, ``an integer``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _quote(text: str) -> str:
    return "'" + one_line(text) + "'"


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
