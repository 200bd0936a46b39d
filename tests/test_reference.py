"""docs/spec-reference.md: generated from resgen/spec/models.py, current, complete, and ready for
the fields still to come."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import REPO
from pydantic import BaseModel, Field

from resgen import reference
from resgen.reference import main, render_reference
from resgen.spec.models import Spec

PAGE = REPO / "docs" / "spec-reference.md"


def models_by_path(model: type[BaseModel], path: str = "top level") -> dict[str, type[BaseModel]]:
    """Every model of the spec by where it sits, walked from the pydantic classes themselves."""
    found = {path: model}
    # A model nested in a tagged union's member is listed once, under the union's own path
    # (both block kinds hold the same `attention` kinds: `block.attention, type: se`).
    prefix = "" if path == "top level" else re.sub(r", type: \w+$", "", path) + "."
    for name, field in model.model_fields.items():
        for inner in _models_in(field.annotation):
            sub = (
                f"{prefix}{name}[]"
                if typing.get_origin(field.annotation) is list
                else f"{prefix}{name}"
            )
            kind = inner.model_fields.get("type")
            tag = typing.get_args(kind.annotation) if kind is not None else ()
            many = len(_models_in(field.annotation)) > 1
            found |= models_by_path(inner, f"{sub}, type: {tag[0]}" if many and tag else sub)
    return found


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def sections(text: str) -> dict[str, list[str]]:
    """Heading -> the field names in its table."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:]
            out[current] = []
        elif current and (match := re.match(r"^\| `([a-z_][a-z0-9_]*)` \|", line)):
            out[current].append(match[1])
    return out


def test_the_page_is_current() -> None:
    """CI also runs `python -m resgen.reference --check` (scripts/test.sh)."""
    assert PAGE.read_text(encoding="utf-8") == render_reference(), (
        "docs/spec-reference.md is stale: run python -m resgen.reference"
    )


def test_every_field_of_every_model_is_listed_in_its_section() -> None:
    listed = sections(render_reference())
    expected = models_by_path(Spec)
    assert set(expected) <= set(listed), sorted(set(expected) - set(listed))
    for path, model in expected.items():
        assert listed[path] == list(model.model_fields), path


def test_rows_carry_the_models_defaults_bounds_and_choices() -> None:
    text = render_reference()
    rows = {m[1]: m[0] for m in re.finditer(r"^\| `([a-z][a-z0-9_]*)` \|.*$", text, re.M)}
    assert "| `eps` | number | `1e-05` | >= 1e-12; < 1 |" in rows["eps"]
    assert "| `stride` | integer | `1` | one of `1`, `2` |" in rows["stride"]
    assert "| `blocks` | integer | required | >= 1; <= 1000 |" in rows["blocks"]
    assert "matches `^[a-z][a-z0-9_]*$`; at most 64 characters" in rows["name"]
    assert "at least 1 item; at most 16 items" in rows["stages"]
    assert "| at most 2,000 over all stages |" in text and "| at most 256 KiB |" in text


def test_a_new_field_and_a_new_model_appear_by_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the vocabulary issue will add (an SE block option, say) needs no change here."""

    class SqueezeExcite(BaseModel):
        """Squeeze-and-excitation in the residual branch."""

        ratio: float = Field(0.25, gt=0, le=1, description="Hidden width over channels.")
        gate: typing.Literal["sigmoid", "hard_sigmoid"] = Field("sigmoid", description="The gate.")

    class Wider(Spec):
        se: SqueezeExcite | None = Field(None, description="SE, when wanted.")
        drop_path: float = Field(0.0, ge=0, lt=1, description="Stochastic depth rate.")

    monkeypatch.setattr(reference, "Spec", Wider)
    text = render_reference()
    listed = sections(text)
    assert listed["se"] == ["ratio", "gate"]
    assert listed["top level"][-2:] == ["se", "drop_path"]
    assert "| `se` | mapping: [se](#se) or null | `null` |" in text
    assert "| `gate` | string | `sigmoid` | one of `sigmoid`, `hard_sigmoid` | The gate. |" in text
    assert "| `drop_path` | number | `0.0` | >= 0; < 1 | Stochastic depth rate. |" in text


def test_check_mode(tmp_path: Path) -> None:
    page = tmp_path / "ref.md"
    runner = CliRunner()
    assert runner.invoke(main, [str(page), "--check"]).exit_code == 1  # missing
    assert runner.invoke(main, [str(page)]).exit_code == 0
    assert page.read_text(encoding="utf-8") == render_reference()
    assert runner.invoke(main, [str(page), "--check"]).exit_code == 0
    page.write_text(render_reference().replace(">= 1e-12", ">= 0"), encoding="utf-8")
    result = runner.invoke(main, [str(page), "--check"])
    assert result.exit_code == 1
    assert "out of date" in result.stderr
