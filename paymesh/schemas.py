"""Published schemas of the event catalog: JSON Schema per type, an AsyncAPI document, and the
backward-compatibility check that keeps consumers of a published schema working.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.events import CATALOG, json_schemas

PUBLISHED_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type, schema in json_schemas().items():
        path = directory / f"{event_type}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def asyncapi() -> dict[str, Any]:
    """AsyncAPI 3.0 description: one channel per topic, one message per CloudEvent type."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, model in sorted(CATALOG.items()):
        name = event_type.replace(".", "_").replace("-", "_")
        messages[name] = {
            "name": event_type,
            "contentType": "application/json",
            "payload": model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}"),
            "bindings": {"kafka": {"key": {"type": "string", "description": "the partitionkey extension"}}},
        }
        channels[name] = {"address": event_type, "messages": {name: {"$ref": f"#/components/messages/{name}"}}}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "paymesh events", "version": "1.0.0",
                 "description": "CloudEvents (binary mode, Kafka binding) exchanged by the paymesh functions."},
        "channels": channels,
        "components": {"messages": messages},
    }


def _properties(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = defs.get(ref.rsplit("/", 1)[-1], {})
    props: dict[str, Any] = schema.get("properties", {})
    return props


def _types(schema: dict[str, Any]) -> set[str]:
    if "anyOf" in schema:
        return set().union(*(_types(option) for option in schema["anyOf"]))
    if "type" in schema:
        kind = schema["type"]
        return set(kind) if isinstance(kind, list) else {kind}
    if "$ref" in schema:
        return {"object"}
    if "enum" in schema or "const" in schema:
        return {"enum"}
    return {"any"}


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """What in `new` would break a consumer or producer written against `old`."""
    problems: list[str] = []
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    old_props, new_props = _properties(old, old_defs), _properties(new, new_defs)
    old_required = set(old.get("required", []))
    for name in sorted(set(new.get("required", [])) - old_required):
        problems.append(f"{path}{name}: newly required")
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{path}{name}: removed")
            continue
        new_prop = new_props[name]
        if not _types(old_prop) <= _types(new_prop) and "any" not in _types(new_prop):
            narrowed = f"{sorted(_types(old_prop))} to {sorted(_types(new_prop))}"
            problems.append(f"{path}{name}: type narrowed from {narrowed}")
        old_enum, new_enum = old_prop.get("enum"), new_prop.get("enum")
        if old_enum and new_enum and not set(old_enum) <= set(new_enum):
            problems.append(f"{path}{name}: enum values removed")
        if "$ref" in old_prop and "$ref" in new_prop:
            nested_old = {**old_defs.get(old_prop["$ref"].rsplit("/", 1)[-1], {}), "$defs": old_defs}
            nested_new = {**new_defs.get(new_prop["$ref"].rsplit("/", 1)[-1], {}), "$defs": new_defs}
            problems.extend(breaking_changes(nested_old, nested_new, f"{path}{name}."))
    return problems
