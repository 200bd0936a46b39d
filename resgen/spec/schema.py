"""The spec's JSON Schema, for editors (yaml-language-server) and other tools."""

from __future__ import annotations

import copy
from typing import Any

from resgen.spec.models import Spec


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file, with a title and every field's description.

    A file with ``extends`` inherits what it leaves out, so only a file without one must hold
    ``name``, ``block`` (with its ``type``) and ``stages`` or the ``regnet`` rule that generates
    them; the cross-field rules and the final check of a merged spec stay with ``resgen
    validate``.
    """
    schema = Spec.model_json_schema(mode="validation")
    defs = schema["$defs"]
    properties = schema["properties"]
    for prop in properties.values():  # a nested model's field: describe it as its model does
        ref = prop.get("$ref", "")
        if "description" not in prop and ref.startswith("#/$defs/"):
            prop["description"] = defs[ref.removeprefix("#/$defs/")]["description"]

    block = properties["block"]
    partial_blocks = []
    for option in block["oneOf"]:
        name = option["$ref"].removeprefix("#/$defs/")
        kind = defs[name]["properties"]["type"]
        kind.setdefault("description", f"The block kind: {defs[name]['description']}")
        partial = copy.deepcopy(defs[name])
        partial.pop("required", None)
        partial.pop("title", None)
        defs[f"Partial{name}"] = partial
        partial_blocks.append({"$ref": f"#/$defs/Partial{name}"})
    properties["block"] = {
        "title": block["title"],
        "description": block["description"],
        "type": "object",
    }
    schema["if"] = {"required": ["extends"]}
    schema["then"] = {"properties": {"block": {"anyOf": partial_blocks}}}
    schema["else"] = {
        "required": schema.pop("required"),
        "anyOf": [{"required": ["stages"]}, {"required": ["regnet"]}],
        "properties": {"block": {k: v for k, v in block.items() if k != "title"}},
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "resgen spec"
    return schema
