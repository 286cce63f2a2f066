"""Limits declared once: every field of every published schema has a maximum length or range."""

from __future__ import annotations

from typing import Any

import pytest

from shared.events import json_schemas


def unbounded(schema: dict[str, Any], root: dict[str, Any], path: str = "") -> list[str]:
    if "$ref" in schema:
        return unbounded(root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root, path)
    found = [item for key in ("anyOf", "oneOf", "allOf") for sub in schema.get(key, ())
             for item in unbounded(sub, root, path)]
    kind = schema.get("type")
    if kind == "string" and not {"maxLength", "enum", "const"} & set(schema):
        found.append(f"{path}: string without maxLength")
    if kind in {"integer", "number"} and "maximum" not in schema:
        found.append(f"{path}: {kind} without maximum")
    if kind == "array":
        if "maxItems" not in schema:
            found.append(f"{path}: array without maxItems")
        found += unbounded(schema.get("items", {}), root, path + "[]")
    if kind == "object":
        if "properties" not in schema and "maxProperties" not in schema:
            found.append(f"{path}: object without maxProperties")
        for name, child in schema.get("properties", {}).items():
            found += unbounded(child, root, f"{path}.{name}")
    return found


@pytest.mark.parametrize(("event_type", "schema"), sorted(json_schemas().items()))
def test_every_field_is_bounded(event_type: str, schema: dict[str, Any]) -> None:
    assert unbounded(schema, schema) == []
