"""Read a spec file into plain Python values and a map back to where each value was written.

YAML is read with YAML 1.2 core-schema meanings (``no`` is a string, ``010`` is ten, ``1e-5`` is a
number) and nothing but plain data: no tags beyond the core ones, no anchors or aliases (a spec
reuses another through ``extends``), no duplicate keys, no non-finite numbers. Values are built here
from PyYAML's node tree, never by a PyYAML constructor, so every value keeps its position.

Every mistake is raised as a :class:`~resgen.errors.SpecError` of located problems.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections import deque
from collections.abc import Iterator
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

from resgen.errors import Problem, ResgenError, SpecError, format_path, one_line
from resgen.files import read_regular, size_text
from resgen.spec.files import MAX_FILE_BYTES

__all__ = [
    "MAX_CHAIN_BYTES",
    "MAX_CHAIN_FILES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_INT_BITS",
    "MAX_NODES",
    "Location",
    "SourceMap",
    "load_document",
    "load_string",
]

# Budgets: what one spec may cost to read. A shipped spec is under 2 KiB, about 100 YAML nodes,
# and extends at most one base. Pure-Python YAML parsing costs up to ~28 s and 600 MB per MiB of
# tiny flow items (measured), so the bounds below keep the worst spec to about half a second.

# MAX_FILE_BYTES, the largest spec file read (256 KiB), is defined beside the spec finder.

MAX_CHAIN_BYTES = 512 * 1024
"""Most bytes of spec text read for one spec, its `extends` bases included (512 KiB)."""

MAX_CHAIN_FILES = 32
"""Most files on one `extends` chain, the spec itself included; a family needs two or three."""

MAX_NODES = 20_000
"""Most YAML nodes (scalars, mappings, lists) in one spec and its bases; a spec has about 100."""

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted; a spec needs four or five levels."""

MAX_INT_BITS = 63
"""Integers must lie in [-2**63, 2**63): a 64-bit signed integer, far beyond every bound."""

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
    shown = one_line(file)
    try:
        text = _read(file, shown)
    except _NotASpec as exc:
        raise SpecError(exc.problem) from None
    return _load_root(text, file, shown)


def load_string(text: str, file: str = "<string>") -> tuple[dict[str, Any], SourceMap]:
    """Like :func:`load_document` for text already in memory; ``file`` names it in problems and
    anchors a relative `extends` (its folder)."""
    return _load_root(text, file, file)


def _load_root(text: str, opened: str, shown: str) -> tuple[dict[str, Any], SourceMap]:
    """Parse the spec the user named (its size is bounded by its reader) and merge its chain."""
    budget = _Budget()
    budget.spend_text(text)
    try:
        data, entry = _parse(text, shown, budget)
    except _NotASpec as exc:
        raise SpecError(exc.problem) from None
    data, entry = _resolve_extends(data, entry, opened, shown, [], budget)
    return data, SourceMap(entry)


# ---------------------------------------------------------------------------------------------
# extends


@dataclass(frozen=True)
class _Link:
    """One file on the current `extends` chain."""

    real: str  # os.path.realpath, to recognise a file however it is spelled
    shown: str  # as spelled / resolved for the user
    extends_at: Location  # where this file's `extends` value is written


class _NotASpec(Exception):
    """The file is no spec at all (unreadable, not text, not YAML, not a mapping): reported at
    the file itself, or at the `extends` line that named it when it is a base."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class _Budget:
    """What reading one spec and its bases has cost so far (see the ``MAX_*`` bounds)."""

    bytes: int = 0
    nodes: int = 0

    def spend_text(self, text: str) -> bool:
        """Add the text's UTF-8 bytes; False once the chain holds more than
        ``MAX_CHAIN_BYTES``."""
        self.bytes += len(text.encode("utf-8", "surrogatepass"))
        return self.bytes <= MAX_CHAIN_BYTES


def _resolve_extends(
    data: dict[str, Any],
    entry: _Entry,
    opened: str,
    shown: str,
    chain: list[_Link],
    budget: _Budget,
) -> tuple[dict[str, Any], _Entry]:
    """Merge ``data`` (read from ``opened``) onto its `extends` chain, base first.

    The chain is walked in a loop, never by recursion, so its length is bounded only by
    ``MAX_CHAIN_FILES``; every base is read, parsed and charged to ``budget`` before the next.
    """
    layers: list[tuple[dict[str, Any], _Entry]] = []
    while "extends" in data:
        target = data.pop("extends")
        at = entry.children.pop("extends").value
        layers.append((data, entry))
        chain = [*chain, _Link(os.path.realpath(opened), shown, at)]
        opened, shown = _base_path(target, at, opened, shown, chain)
        data, entry = _load_base(opened, shown, target, at, budget)
    for child, child_entry in reversed(layers):
        data, entry = _merge(data, entry, child, child_entry)
    return data, entry


def _fail_at(where: Location, message: str) -> SpecError:
    return SpecError(Problem(where.file, where.line, where.col, "extends", one_line(message)))


def _base_path(
    target: Any, at: Location, opened: str, shown: str, chain: list[_Link]
) -> tuple[str, str]:
    """Where the base named by ``target`` is (to open, to show), or the located reason why not."""
    if not isinstance(target, str) or not target.strip():
        found = "an empty string" if isinstance(target, str) else _describe(target)
        raise _fail_at(
            at, f"must be the path of a base spec file, relative to this file; found {found}"
        )
    if "\x00" in target:
        raise _fail_at(at, "the path holds a NUL character; a file name cannot")
    if len(chain) >= MAX_CHAIN_FILES:
        raise _fail_at(
            at,
            f"the extends chain is longer than {MAX_CHAIN_FILES} files; a spec needs a base or two",
        )
    base_opened = os.path.join(os.path.dirname(opened), target)
    base_shown = one_line(os.path.normpath(os.path.join(os.path.dirname(shown), target)))
    base_real = os.path.realpath(base_opened)
    for i, link in enumerate(chain):
        if link.real == base_real:
            names = " -> ".join([*(lk.shown for lk in chain[i:]), link.shown])
            raise _fail_at(link.extends_at, f"cycle {names}")
    if not os.path.lexists(base_opened):
        raise _fail_at(at, f"base file {_quote(target)} not found (resolved to {base_shown})")
    return base_opened, base_shown


def _load_base(
    opened: str, shown: str, target: str, at: Location, budget: _Budget
) -> tuple[dict[str, Any], _Entry]:
    """Read and parse one base; a file that is no spec is reported at the `extends` line."""
    try:
        text = _read(opened, shown)
        if not budget.spend_text(text):
            raise _fail_at(
                at,
                f"the extends chain holds more than {size_text(MAX_CHAIN_BYTES)} of spec text "
                f"once base {_quote(target)} is added",
            )
        return _parse(text, shown, budget)
    except _NotASpec as exc:
        p = exc.problem
        raise _fail_at(
            at, f"base {_quote(target)} is not a spec: {p.message} (at {p.file}:{p.line}:{p.col})"
        ) from None


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


_recorded: list[tuple[str, bytes]] | None = None


@contextlib.contextmanager
def recording_reads() -> Iterator[list[tuple[str, bytes]]]:
    """Within the block, every spec file read (a spec and each base it extends), in order, as
    the path it was opened by and its bytes: ``build``'s cache keys a spec on all of them."""
    global _recorded
    outer, _recorded = _recorded, []
    try:
        yield _recorded
    finally:
        _recorded = outer


def _read(opened: str, shown: str) -> str:
    """The file's text (regular files only, at most ``MAX_FILE_BYTES``), or :class:`_NotASpec`."""
    try:
        raw = read_regular(opened, MAX_FILE_BYTES, what="spec", shown=shown)
    except ResgenError as exc:
        raise _NotASpec(exc.problems[0]) from None
    if _recorded is not None:
        _recorded.append((opened, raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start : exc.start + 1].hex()
        message = (
            f"the file is not valid UTF-8 (byte 0x{bad} on line {line}, byte {col} of the line)"
        )
        raise _NotASpec(Problem(shown, 1, 1, "", message)) from None
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


def _plural(count: int, word: str, plural: str) -> str:
    return f"{count} {word if count == 1 else plural}"


def _checked_events(text: str, file: str, budget: _Budget) -> list[Event]:
    """The first document's events, refusing anchors, aliases, extra documents, deep nesting and
    more than ``MAX_NODES`` nodes before any node is built (an alias bomb never gets composed).

    Anchors and aliases are counted and reported once per file, at the first of them.
    """
    problems: list[Problem] = []

    def add(mark: Mark, message: str) -> None:
        problems.append(Problem(file, mark.line + 1, mark.column + 1, "", message))

    events: list[Event] = []
    anchors = aliases = 0
    first_anchor: Mark | None = None
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
            if isinstance(event, NodeEvent):
                budget.nodes += 1
                if budget.nodes > MAX_NODES:
                    add(
                        event.start_mark,
                        f"the spec holds more than {MAX_NODES:,} YAML values (with its bases); "
                        "a spec is a page of text",
                    )
                    break
            if isinstance(event, AliasEvent):
                aliases += 1
                first_anchor = first_anchor or event.start_mark
                continue
            if isinstance(event, NodeEvent) and event.anchor is not None:
                anchors += 1
                first_anchor = first_anchor or event.start_mark
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
    if first_anchor is not None:
        found = (
            f"{_plural(anchors, 'anchor', 'anchors')} and {_plural(aliases, 'alias', 'aliases')}"
        )
        add(first_anchor, f"{_NO_ANCHORS} (found {found} in this file, the first here)")
    if problems:
        raise SpecError(problems)
    return events


# Parsed files, by (name as shown, text): ``resgen build specs/`` reads a base such as
# resnet50.yaml once for itself and again for every spec that extends it, and PyYAML's
# pure-Python scanner is most of a build's time. Only clean parses are kept; each use gets its
# own copy (``extends`` handling pops keys), and is charged the nodes a parse would charge.
_PARSED: dict[tuple[str, str], tuple[dict[str, Any], _Entry, int]] = {}
_PARSED_MAX = 512  # files; the cache is dropped whole past this


def _copied(value: Any, entry: _Entry) -> tuple[Any, _Entry]:
    """A fresh copy of parsed data and its entry tree (locations are immutable and shared)."""
    if isinstance(value, dict):
        pairs = [(k, _copied(v, entry.children[k])) for k, v in value.items()]
        copy: Any = {k: v for k, (v, _) in pairs}
    elif isinstance(value, list):
        pairs = [(i, _copied(v, entry.children[i])) for i, v in enumerate(value)]
        copy = [v for _, (v, _) in pairs]
    else:
        return value, _Entry(entry.key, entry.value, dict(entry.children))
    return copy, _Entry(entry.key, entry.value, {k: e for k, (_, e) in pairs})


def _parse(text: str, file: str, budget: _Budget) -> tuple[dict[str, Any], _Entry]:
    """Parse one file's text (no `extends` handling) into a mapping and its entry tree, from
    :data:`_PARSED` when this file's text was parsed before and fits the node budget."""
    cached = _PARSED.get((file, text))
    if cached is not None and budget.nodes + cached[2] <= MAX_NODES:
        budget.nodes += cached[2]
        return _copied(cached[0], cached[1])
    before = budget.nodes
    data, entry = _parse_text(text, file, budget)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[(file, text)] = (*_copied(data, entry), budget.nodes - before)
    return data, entry


def _parse_text(text: str, file: str, budget: _Budget) -> tuple[dict[str, Any], _Entry]:
    """Parse one file's text (no `extends` handling) into a mapping and its entry tree.

    A file that is no spec document at all (invalid YAML, empty, not a mapping at the top) raises
    :class:`_NotASpec`; problems inside a mapping raise :class:`SpecError`.
    """
    try:
        events = _checked_events(text, file, budget)
        node = yaml.compose(cast(Any, events), Loader=_ReplayLoader)  # events, not text
    except MarkedYAMLError as exc:
        raise _NotASpec(_syntax_problem(exc, text, file)) from None
    except ReaderError as exc:
        line, col = _line_col(text, exc.position)
        raise _NotASpec(Problem(file, line, col, "", _reader_message(exc))) from None
    except YAMLError as exc:  # no position known
        raise _NotASpec(Problem(file, 1, 1, "", one_line(str(exc)))) from None

    if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL and node.value == ""):
        raise _NotASpec(Problem(file, 1, 1, "", _EMPTY))
    builder = _Builder(file)
    data, entry = builder.build(node, (), None)
    if not isinstance(node, MappingNode):
        mark = node.start_mark
        message = f"the top level must be a mapping, found {_describe(data)}"
        raise _NotASpec(Problem(file, mark.line + 1, mark.column + 1, "", message))
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
        if tag == _INT or text.startswith(("0o", "0x")):  # also !!float 0x10
            integer = self.integer(node, path)
            return integer if tag == _INT or integer is None else float(integer)
        number = float(text.replace(".", "") if "n" in text.lower() else text)  # .inf -> inf
        if not math.isfinite(number):
            self.add(node.start_mark, path, f"numbers must be finite; found {text}")
            return None
        return number

    def integer(self, node: ScalarNode, path: tuple[str | int, ...]) -> int | None:
        """A YAML integer (decimal, 0o octal, 0x hex) within 64 bits, or None after a problem.

        Length is checked before converting: a hex or octal literal of any length converts, but
        a 5,000-digit value could not even be printed (Python's 4,300-digit limit)."""
        text = node.value
        digits = text.lstrip("+-").removeprefix("0o").removeprefix("0x").lstrip("0")
        base = 16 if text.startswith("0x") else 8 if text.startswith("0o") else 10
        if len(digits) * math.log2(base) <= MAX_INT_BITS + 4:
            value = int(text, 0 if base != 10 else 10)
            if -(2**MAX_INT_BITS) <= value < 2**MAX_INT_BITS:
                return value
        shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text):,} characters)"
        self.add(
            node.start_mark,
            path,
            f"the integer {shown} is out of range; a spec's integers fit in 64 bits",
        )
        return None


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
