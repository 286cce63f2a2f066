"""Valid event data generated from the published JSON Schemas (docs/schemas, shared.events.json_schemas).

A small generator for the part of JSON Schema that pydantic emits ($ref/$defs, anyOf, const, enum, type,
pattern, lengths, bounds, date-time, objects, arrays). hypothesis-jsonschema would do this, but its current
release fails on today's hypothesis. What a schema cannot say (an amount's decimals per currency, a
transaction's two postings) is filtered by the catalog model itself, so every example is valid data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError

from shared.events import CATALOG

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
_SHORT_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=24)
json_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | _SHORT_TEXT
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9_]{0,9}\Z"), inner, max_size=3),
                           max_leaves=8)


def published_schema(event_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS_DIR / f"{event_type}.json").read_text())
    return schema


amounts = st.builds(lambda cents: str(Decimal(cents).scaleb(-2)), st.integers(1, 99_999_999))
times = st.builds(lambda seconds: (datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds))
                  .isoformat().replace("+00:00", "Z"), st.integers(0, 10 * 365 * 86400))


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("format") == "date-time":
        return times
    low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
    if "pattern" in schema:
        pattern = schema["pattern"].replace("^", r"\A", 1).removesuffix("$") + r"\Z"
        return st.from_regex(pattern).filter(lambda text: low <= len(text) <= schema.get("maxLength", 10**9))
    return st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=low,
                   max_size=max(low, high))


def from_schema(schema: dict[str, Any], root: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return from_schema(root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root, name)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if name == "currency":
        return st.sampled_from(CURRENCIES)
    if str(schema.get("description", "")).startswith("Decimal amount"):
        return amounts
    if "anyOf" in schema:
        return st.one_of([from_schema(option, root, name) for option in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum", -1000), schema.get("maximum", 1000))
    if kind == "number":
        return st.integers(-1000, 1000)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), root, name), min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 4), 4))
    if kind == "object" and "properties" in schema:
        return _object(schema, root)
    return st.dictionaries(st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9_]{0,9}\Z"), json_values, max_size=3)


def _object(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    required = set(schema.get("required", ()))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for key, child in schema["properties"].items():
            if key in required or draw(st.booleans()):
                value[key] = draw(from_schema(child, root, key))
        return value

    return build()


def _valid(event_type: str, data: dict[str, Any]) -> bool:
    try:
        CATALOG[event_type].model_validate(json.loads(json.dumps(data), parse_float=Decimal))
    except ValidationError:
        return False
    return True


def valid_data(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Data of `event_type` that its catalog model accepts, generated from the published schema."""
    schema = published_schema(event_type)
    return from_schema(schema, schema).filter(lambda data: _valid(event_type, data))
