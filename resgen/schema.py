"""The spec's JSON Schema, for editors (yaml-language-server) and other tools."""

from __future__ import annotations

from typing import Any

from resgen.spec import Spec


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file, with a title and every field's description."""
    schema = Spec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "resgen spec"
    return schema
