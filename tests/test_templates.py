"""The templates print the plan and decide nothing.

Each template is parsed with Jinja's own parser: none reads ``spec``, none reads a name the
renderer does not hand it, none compares or computes, and none grows past a screen. The renderer
hands templates the plan, its page and the prose written from them, never the spec, and the plan
itself holds no spec to reach through. Kinds of things (block kinds, shortcut rules, helpers) are
one template each, exporting the same macros, and every kind the plan can name has its file.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import jinja2
import pytest
from helpers import shipped_specs, spec_path
from jinja2 import meta, nodes
from pydantic import BaseModel

from resgen.check.validate import load_spec
from resgen.components import anti_alias, attention, block, conv, norm, shortcut, stem, stem_pool
from resgen.plan.network import NetworkPlan
from resgen.plan.planner import build_plan
from resgen.rendering.page import keras_page, torch_page
from resgen.rendering.render import BACKENDS, _environment, render, template_context, templates_dir
from resgen.spec.models import Spec

SPECS = sorted(shipped_specs().values())
TEMPLATES = sorted(templates_dir().rglob("*.j2"))
PAGES = {f"{backend}/model.py.j2" for backend in BACKENDS}
MAX_LINES = 90  # a screen, give or take
ARITHMETIC = (
    *(nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow),
    *(nodes.Neg, nodes.Pos, nodes.Compare),  # -x, +x, == != < > in ...
)


def relative(path: Path) -> str:
    return path.relative_to(templates_dir()).as_posix()


def parsed(path: Path) -> nodes.Template:
    return _environment().parse(path.read_text())


def included() -> set[str]:
    """Templates a page includes (they share its variables), by name or from a folder.

    Every other template is a macro file whose macros take what they print as arguments.
    """
    found = set()
    for path in TEMPLATES:
        for node in parsed(path).find_all(nodes.Include):
            target = node.template
            if isinstance(target, nodes.Const):
                found.add(target.value)
            else:  # "<backend>/helpers/" ~ name ~ ".py.j2"
                folder = next(target.find_all(nodes.Const)).value
                found |= {relative(p) for p in TEMPLATES if relative(p).startswith(folder)}
    return found


def test_templates_found() -> None:
    assert len(TEMPLATES) > 20
    assert {relative(p) for p in TEMPLATES} >= PAGES


@pytest.mark.parametrize("path", TEMPLATES, ids=relative)
def test_no_template_reads_the_spec(path: Path) -> None:
    tree = parsed(path)
    assert "spec" not in meta.find_undeclared_variables(tree)
    assert not [n for n in tree.find_all(nodes.Name) if n.name == "spec"]
    assert not [n for n in tree.find_all(nodes.Getattr) if n.attr == "spec"]
    tags = re.findall(r"\{[{%](.*?)[}%]\}", path.read_text(), re.S)
    assert not [tag for tag in tags if re.search(r"\bspec\b", tag)], relative(path)


@pytest.mark.parametrize("path", TEMPLATES, ids=relative)
def test_templates_read_only_what_render_hands_them(path: Path) -> None:
    plan = build_plan(load_spec(spec_path("resnet50")))
    handed = set(template_context(plan, "torch"))
    free = meta.find_undeclared_variables(parsed(path))
    if relative(path) in PAGES or relative(path) in included():
        assert free <= handed, (relative(path), free - handed)
    else:
        assert free == set(), (relative(path), free)


@pytest.mark.parametrize("backend", BACKENDS)
def test_render_hands_templates_nothing_they_do_not_read(backend: str) -> None:
    plan = build_plan(load_spec(spec_path("resnet50")))
    read: set[str] = set()
    for path in TEMPLATES:
        if relative(path).startswith(f"{backend}/"):
            read |= meta.find_undeclared_variables(parsed(path))
    assert read == set(template_context(plan, backend))  # type: ignore[arg-type]


@pytest.mark.parametrize("path", TEMPLATES, ids=relative)
def test_templates_neither_compute_nor_compare(path: Path) -> None:
    """Loops and simple ifs on the plan's facts; ``~`` only names a template to import."""
    tree = parsed(path)
    found = [type(n).__name__ for n in tree.find_all(ARITHMETIC)]
    assert found == [], relative(path)
    targets = {
        id(n.template) for n in tree.find_all((nodes.Import, nodes.FromImport, nodes.Include))
    }
    concats = [n for n in tree.find_all(nodes.Concat) if id(n) not in targets]
    assert concats == [], relative(path)
    for node in tree.find_all((nodes.If, nodes.CondExpr)):
        tests = [node.test, *node.test.find_all(nodes.Node)]
        allowed = (nodes.Name, nodes.Getattr, nodes.Not, nodes.And, nodes.Or)
        assert all(isinstance(t, allowed) for t in tests), (relative(path), node.test)


@pytest.mark.parametrize("path", TEMPLATES, ids=relative)
def test_each_template_fits_on_a_screen(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES, relative(path)


def macros(path: Path) -> set[str]:
    return {m.name for m in parsed(path).find_all(nodes.Macro)}


@pytest.mark.parametrize(
    ("folder", "names"),
    [
        ("torch/blocks", {"define", "block_class"}),
        ("keras/blocks", {"define", "block_function"}),
        ("torch/shortcuts", {"shortcut_init", "shortcut_forward"}),
        ("keras/shortcuts", {"shortcut"}),
        ("torch/attention", {"define", "init"}),
        ("keras/attention", {"define", "call"}),
        ("torch/norm", {"define", "reset"}),
        ("keras/norm", {"define"}),
        ("torch/stem_pool", {"init", "forward"}),
        ("keras/stem_pool", {"call"}),
        ("torch/anti_alias", {"init", "stem"}),
        ("keras/anti_alias", {"call", "stem"}),
        ("torch/stem", {"init"}),
        ("torch/conv", {"define"}),
        ("keras/conv", {"define"}),
    ],
)
def test_one_template_per_kind_exporting_the_same_macros(folder: str, names: set[str]) -> None:
    files = sorted((templates_dir() / folder).glob("*.py.j2"))
    assert files
    for path in files:
        assert macros(path) == names, relative(path)
    kinds = {p.name.removesuffix(".py.j2") for p in files}
    if folder.endswith("shortcuts"):
        assert kinds == {kind.KIND.when for kind in shortcut.KINDS}
    elif folder.endswith("attention"):  # one per registered kind, and no other
        assert kinds == {kind.KIND.type for kind in attention.KINDS}
    elif folder.endswith("norm"):
        assert kinds == {kind.KIND.type for kind in norm.KINDS}
    elif folder.endswith("stem_pool"):
        assert kinds == {kind.KIND.type for kind in stem_pool.KINDS}
    elif folder.endswith("stem"):
        assert kinds == {kind.KIND.type for kind in stem.KINDS}
    elif folder.endswith("anti_alias"):
        assert kinds == {kind.KIND.type for kind in anti_alias.KINDS}
    elif folder.endswith("conv"):
        assert kinds == {kind.KIND.type for kind in conv.KINDS}
    else:  # each registered kind's templates (plain and pre-activation), and no other
        block_kinds = {name for kind in block.KINDS for name in kind.KIND.templates()}
        assert kinds == block_kinds


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.stem)
def test_every_helper_a_page_names_has_its_template(spec_path: Path) -> None:
    plan = build_plan(load_spec(spec_path))
    for backend, page in (("torch", torch_page(plan)), ("keras", keras_page(plan))):
        for helper in (*page.helpers, *page.late_helpers):
            assert (templates_dir() / backend / "helpers" / f"{helper}.py.j2").is_file()
        for kind in page.attention:
            assert (templates_dir() / backend / "attention" / f"{kind.type}.py.j2").is_file()
        assert (templates_dir() / backend / "norm" / f"{page.norm.type}.py.j2").is_file()
        assert (templates_dir() / backend / "conv" / f"{page.conv.type}.py.j2").is_file()


def reachable(value: Any, seen: set[int] | None = None) -> typing.Iterator[Any]:
    """Every object reachable from ``value`` through dataclass fields, mappings and sequences."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    yield value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        children = list(value)
    else:
        children = []
    for child in children:
        yield from reachable(child, seen)


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.stem)
def test_the_plan_holds_no_spec(spec_path: Path) -> None:
    plan = build_plan(load_spec(spec_path))
    assert isinstance(plan, NetworkPlan)
    assert not [v for v in reachable(plan) if isinstance(v, BaseModel)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_render_hands_templates_no_spec(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[dict[str, Any]] = []
    original = jinja2.Template.render

    def spy(self: jinja2.Template, *args: Any, **kwargs: Any) -> str:
        handed.append(dict(*args, **kwargs))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", spy)
    spec = load_spec(spec_path("resnet50_v2"))
    text = render(spec, backend, "specs/resnet50_v2.yaml")  # type: ignore[arg-type]
    assert text.startswith("# Code generated by resgen")
    assert len(handed) == 1
    context = handed[0]
    assert "spec" not in context
    assert not [v for v in reachable(context) if isinstance(v, Spec | BaseModel)]
