"""From a spec file to a validated :class:`~resgen.spec.models.Spec`, or located problems.

pydantic errors are worded here by their ``type`` (never by matching pydantic's text), then
placed with the loader's source map; cross-field rules come from :mod:`resgen.check.rules`. A spec
that passes them is planned once, and the checks only the plan shows run on that plan
(:func:`checked_plan`); callers get the spec with its plan (:func:`load_planned`).
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from resgen.check import rules
from resgen.components import attention, block, conv
from resgen.errors import Problem, SpecError
from resgen.plan.network import NetworkPlan
from resgen.plan.planner import build_plan
from resgen.spec.files import SPEC_SUFFIXES as SPEC_SUFFIXES  # re-exported
from resgen.spec.files import find_specs as find_specs  # re-exported
from resgen.spec.files import find_specs_and_problems
from resgen.spec.loader import SourceMap, load_document
from resgen.spec.models import Spec

# The tagged unions of the spec, by the user's path to them: pydantic puts the chosen member's
# `type` into its error locations (`block.bottleneck.groups`), which users never write.
_TAGGED: dict[tuple[str, ...], tuple[str, dict[str, type[BaseModel]]]] = {
    ("block",): ("blocks", block.SPECS),
    ("block", "attention"): ("attention", attention.SPECS),
    ("conv",): ("convs", conv.SPECS),
}

FieldPath = tuple[int | str, ...]
_Found = tuple[FieldPath, str]


@dataclass(frozen=True)
class Planned:
    """A spec that passed every check, with the plan it was checked by (built once)."""

    spec: Spec
    plan: NetworkPlan


def checked_plan(spec: Spec) -> tuple[NetworkPlan | None, rules.Problems]:
    """The cross-field rules, then, for a spec that passes them, its plan and the checks only
    the plan shows: the one post-plan step every command shares. The plan is None where any
    problem was found."""
    problems = rules.check(spec)
    if problems:
        return None, problems
    plan = build_plan(spec)
    problems = rules.check_plan(spec, plan)
    return (None if problems else plan), problems


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read, merge (``extends``), validate and cross-check one spec file."""
    return load_planned(path).spec


def load_planned(path: str | os.PathLike[str]) -> Planned:
    """Read, merge (``extends``), validate and cross-check one spec file, and plan it."""
    data, source = load_document(path)
    inexact = _inexact_choices(data, Spec, ())
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        flagged = {path for path, _ in inexact}  # said better than pydantic's "one of 1 or 2"
        errors = [e for e in exc.errors() if _user_path(tuple(e["loc"])) not in flagged]
        problems = [_problem(error, source) for error in errors]
        if isinstance(data, dict) and not {"stages", "regnet"} & set(data):
            # Neither is required alone, so pydantic does not say it; the rules would.
            problems.append(source.problem(("stages",), rules.MISSING_STAGES))
        raise SpecError(problems + [source.problem(p, m) for p, m in inexact]) from None
    if inexact:
        raise SpecError([source.problem(p, m) for p, m in inexact])
    plan, found = checked_plan(spec)
    if plan is None:
        raise SpecError([source.problem(field, message) for field, message in found])
    return Planned(spec, plan)


def load_specs(paths: typing.Iterable[str | os.PathLike[str]]) -> list[tuple[Path, Spec]]:
    """Validate every spec under ``paths``; collect all problems before raising."""
    return [(path, planned.spec) for path, planned in load_all_planned(paths)]


def load_all_planned(paths: typing.Iterable[str | os.PathLike[str]]) -> list[tuple[Path, Planned]]:
    """Validate and plan every spec under ``paths`` (each planned once); collect all problems
    before raising."""
    loaded: list[tuple[Path, Planned]] = []
    found, problems = find_specs_and_problems(paths)
    for path in found:
        try:
            loaded.append((path, load_planned(path)))
        except SpecError as exc:
            problems += exc.problems
    seen: dict[str, Path] = {}
    for path, planned in loaded:
        spec = planned.spec
        if spec.name in seen:
            message = f"'{spec.name}' is also the name of {seen[spec.name]}; names must be unique"
            _, source = load_document(path)  # read again, only to place the problem
            problems.append(source.problem(("name",), message))
        seen.setdefault(spec.name, path)
    if problems:
        # A base's problem is met once per spec that extends it (and once more when a folder
        # scan reaches the base itself): each is reported once.
        raise SpecError(list(dict.fromkeys(problems)))
    return loaded


# --- choices are exact: `stride: true` is not 1 -------------------------------------------


def _inexact_choices(data: Any, model: type[BaseModel], path: FieldPath) -> list[_Found]:
    """Booleans and floats where the choices are integers: ``true`` or ``2.0`` where they are
    ``1`` and ``2`` (pydantic compares literals by equality, even in strict mode, so ``true``
    would pass as ``1``).

    Walks the data beside the models, so every field added to :mod:`resgen.spec.models` is covered.
    """
    found: list[_Found] = []
    if not isinstance(data, dict):
        return found
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        here = (*path, key)
        choices = _literal_choices(field.annotation)
        integers = bool(choices) and all(type(c) is int for c in choices)
        if integers and isinstance(value, bool | float):
            found.append((here, f"expected an integer, got {_describe(value)}"))
        for child_model, child, child_path in _nested(field.annotation, value, here):
            found += _inexact_choices(child, child_model, child_path)
    return found


def _literal_choices(annotation: Any) -> tuple[Any, ...]:
    """The choices of a ``Literal`` annotation (optional or annotated too), else ``()``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return typing.get_args(annotation)
    if origin is typing.Annotated:
        return _literal_choices(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        parts = [_literal_choices(a) for a in members]
        return () if not all(parts) else tuple(c for part in parts for c in part)
    return ()


def _nested(
    annotation: Any, value: Any, path: FieldPath
) -> list[tuple[type[BaseModel], Any, FieldPath]]:
    """The models that ``value`` (at ``path``) is validated against, with the values and paths:
    a model field, each item of a list of models, the member of a union its ``type`` picks."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _nested(typing.get_args(annotation)[0], value, path)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(annotation)
        return [n for i, v in enumerate(value) for n in _nested(item, v, (*path, i))]
    if origin in (typing.Union, types.UnionType) and isinstance(value, dict):
        models = _union_models(annotation)
        if len(models) > 1:  # a tagged union: the member whose `type` names the value's
            models = [m for m in models if value.get("type") in _type_choices(m)]
        return [(models[0], value, path)] if len(models) == 1 else []
    return [(annotation, value, path)] if _is_model(annotation) else []


def _union_models(annotation: Any) -> list[type[BaseModel]]:
    """The models a union holds, through ``Annotated`` and nested unions (``X | None``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _union_models(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _union_models(arg)]
    return [annotation] if _is_model(annotation) else []


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_choices(model: type[BaseModel]) -> tuple[Any, ...]:
    field = model.model_fields.get("type")
    return _literal_choices(field.annotation) if field is not None else ()


# --- wording pydantic's errors -------------------------------------------------------------


def _problem(error: ErrorDetails, source: SourceMap) -> Problem:
    raw = tuple(error["loc"])
    loc = _user_path(raw)
    if error["type"] == "extra_forbidden":
        return source.problem(loc, _unknown_field(raw), at="key")
    if error["type"] == "union_tag_invalid":  # point at the bad `type:`, not its mapping
        loc = (*loc, "type")
    message = _message(error, loc)
    if error["type"] == "literal_error" and isinstance(error.get("input"), str):
        message += _closest(str(error["input"]), _choices(raw))
    return source.problem(loc, message)


def _choices(raw: tuple[int | str, ...]) -> list[str]:
    """The string choices of the ``Literal`` field at pydantic location ``raw``."""
    model = _model_at(raw[:-1])
    field = model.model_fields.get(str(raw[-1])) if model is not None else None
    if field is None:
        return []
    return [str(arg) for arg in typing.get_args(field.annotation)]


def _closest(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _user_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the discriminator tags pydantic inserts after ``block`` and ``block.attention``."""
    out: list[int | str] = []
    tagged = False  # the part before was a tag: the next is a field again
    for part in loc:
        union = _TAGGED.get(tuple(str(p) for p in out))
        if union and not tagged and part in union[1]:
            tagged = True
            continue
        tagged = False
        out.append(part)
    return tuple(out)


def _unknown_field(raw: tuple[int | str, ...]) -> str:
    name = str(raw[-1])
    model = _model_at(raw[:-1])
    if model is None:
        return f"unknown field '{name}'"
    known = sorted(model.model_fields)
    for noun, members in _TAGGED.values():
        if model not in members.values():
            continue
        for kind, other in members.items():
            if model is not other and name in other.model_fields:
                verb = "have" if noun.endswith("s") else "has"
                return f"unknown field '{name}'; only {kind} {noun} {verb} it"
    hint = _closest(name, known) or f"; known fields: {', '.join(known)}"
    return f"unknown field '{name}'{hint}"


def _model_at(raw: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model holding the fields at pydantic location ``raw`` (``()`` is the spec)."""
    model: type[BaseModel] | None = Spec
    path: list[str] = []
    for part in raw:
        if isinstance(part, int):
            continue
        union = _TAGGED.get(tuple(path))
        if model is None and union and part in union[1]:
            model = union[1][part]
            continue
        if model is None or part not in model.model_fields:
            return None
        path.append(part)
        model = _first_model(model.model_fields[part].annotation)
    return model


def _tags(loc: tuple[int | str, ...]) -> dict[str, type[BaseModel]]:
    """The members of the tagged union at the user's path ``loc``."""
    key = tuple(str(p) for p in loc if not isinstance(p, int))
    return _TAGGED.get(key, ("", block.SPECS))[1]


def _first_model(annotation: Any) -> Any:
    """The one model class an annotation holds, or None (scalars, tagged unions)."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return _first_model(typing.get_args(annotation)[0])
    if origin is typing.Annotated:
        return _first_model(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found = {_first_model(arg) for arg in typing.get_args(annotation)} - {None}
        return found.pop() if len(found) == 1 else None  # a tagged union: the tag decides
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


_TYPE_NAMES = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
}

_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    return f"{type(value).__name__} {value!r}"


def _either(names: Iterable[str]) -> str:
    """'a', 'b' or 'c', as pydantic words a literal's choices."""
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _message(error: ErrorDetails, loc: tuple[int | str, ...]) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    value = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}, got {_describe(value)}"
    if kind in _BOUNDS:
        key, op = _BOUNDS[kind]
        return f"must be {op} {ctx[key]}, got {value!r}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}; got {_describe(value)}"
    if kind == "union_tag_invalid":
        tag = value.get("type") if isinstance(value, dict) else ctx["tag"]
        return f"must be one of {_either(_tags(loc[:-1]))}; got {_describe(tag)}"
    if kind == "union_tag_not_found":
        return f"needs a type: one of {_either(_tags(loc))}"
    if kind == "string_pattern_mismatch":
        return (
            f"must start with a lowercase letter and hold only a-z, 0-9 and _ "
            f"(it names a file and a function); got {value!r}"
        )
    if kind in ("string_too_long", "too_long"):
        unit = "characters" if kind == "string_too_long" else "items"
        unit = "stages" if loc and loc[-1] == "stages" else unit
        size = f", got {len(value)}" if isinstance(value, str | list) else ""
        return f"too long: at most {ctx.get('max_length')} {unit}{size}"
    if kind == "too_short":
        what = "stage" if loc and loc[-1] == "stages" else "item"
        least = ctx.get("min_length")
        return f"needs at least {least} {what}{'' if least == 1 else 's'}"
    if kind == "finite_number":
        return "numbers must be finite"
    if kind == "value_error":
        return str(ctx.get("error", "invalid value"))
    return f"invalid value {_describe(value)} ({kind})"
