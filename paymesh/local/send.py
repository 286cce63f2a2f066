"""Produce CloudEvents of the catalog to their topics, as an upstream service (or `paymesh send`) would."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.config import RuntimeSettings
from shared.envelope import Envelope
from shared.events import CATALOG
from shared.publish import KafkaPublisher

STATE_FILE = "up.json"


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def new_event(event_type: str, data: dict[str, Any], source: str = "/paymesh/cli",
              correlation_id: str | None = None, event_id: str | None = None) -> Envelope:
    """A binary-ready CloudEvent of a catalog type, keyed (partitionkey, subject) by the type's key field."""
    model = CATALOG.get(event_type)
    if model is None:
        raise ValueError(f"unknown event type {event_type!r}; known: {', '.join(sorted(CATALOG))}")
    attributes = {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": source, "type": event_type,
                  "datacontenttype": "application/json", "correlationid": correlation_id or str(uuid.uuid4()),
                  "traceparent": new_traceparent()}
    field = model.model_fields.get(model.key_field)
    alias = (field.alias if field is not None else None) or model.key_field
    key = data.get(alias)
    if isinstance(key, str) and key:
        attributes["partitionkey"] = attributes["subject"] = key
    return Envelope(attributes, data)


def validate_data(event_type: str, data: dict[str, Any]) -> None:
    """ValueError naming every field that breaks the catalog, as the consuming function would answer 422."""
    model = CATALOG.get(event_type)
    if model is None:
        raise ValueError(f"unknown event type {event_type!r}; known: {', '.join(sorted(CATALOG))}")
    try:
        model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"data.{'.'.join(str(part) for part in item['loc']) or '(root)'}: {item['msg']} "
                             f"[{item['type']}]" for item in error.errors())
        raise ValueError(f"{event_type} data is invalid: {problems}") from None


def load_data(text: str) -> dict[str, Any]:
    """--data: inline JSON, or @path to a JSON file."""
    raw = Path(text[1:]).read_text() if text.startswith("@") else text
    value = json.loads(raw, parse_float=Decimal)  # as the functions read it: no binary rounding of amounts
    if not isinstance(value, dict):
        raise ValueError("event data must be a JSON object")
    return value


def running_state(home: Path) -> dict[str, Any]:
    """What a running `paymesh up` wrote about itself (bootstrap, URLs), or {}."""
    try:
        state: dict[str, Any] = json.loads((home / STATE_FILE).read_text())
        return state
    except (OSError, ValueError):
        return {}


def resolve_bootstrap(given: str | None, home: Path) -> str:
    bootstrap = given or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or running_state(home).get("bootstrap")
    if not bootstrap:
        raise ValueError("no broker: start `paymesh up` first, or pass --bootstrap / set KAFKA_BOOTSTRAP_SERVERS")
    return str(bootstrap)


def produce(bootstrap: str, events: Sequence[Envelope], timeout: float = 10.0) -> None:
    publisher = KafkaPublisher(RuntimeSettings(kafka_bootstrap_servers=bootstrap, publish_timeout_seconds=timeout))
    try:
        publisher.publish(events)
    finally:
        publisher.close()
