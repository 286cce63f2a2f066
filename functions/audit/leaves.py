"""What a record is in the transparency log: its id, its fields and its leaf bytes.

A record's leaf is the RFC 8785 canonical JSON (UTF-8) of every field it holds, its id included:
{"action","actor","correlationId","customerId","data","eventId","eventSource","eventType","id",
"occurredAt","outcome","recordedAt","service","subject"}; `data` is the stored (masked) payload as a
JSON value. The leaf does not hold its own position: the tree fixes that. Times are UTC with
microseconds, so a row read back from either database gives the same bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.audit.canonical import canonical_json

RECORD_ID_NAMESPACE = uuid.UUID("0b9d7c8e-3f7a-4a51-9a3e-6b2f4c1d8e21")
# The columns a record's content lives in (the sequence is its position, given at integration).
CONTENT_COLUMNS = ("record_id", "event_source", "event_id", "event_type", "service", "action", "outcome", "actor",
                   "subject", "correlation_id", "customer_id", "occurred_at", "recorded_at", "data")


def timestamp(value: datetime) -> str:
    """UTC with microseconds; a naive value (SQLite returns those) is UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_id(event_source: str, event_id: str) -> str:
    return "aud_" + uuid.uuid5(RECORD_ID_NAMESPACE, f"{event_source}\x1f{event_id}").hex


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record before integration gives it a position in the tree."""

    event_source: str
    event_id: str
    event_type: str
    service: str
    action: str
    outcome: str
    actor: str
    subject: str
    correlation_id: str
    customer_id: str | None
    occurred_at: datetime
    recorded_at: datetime
    data: str  # canonical JSON
    record_id: str = ""  # made from the event's source and id (a UUID v5 is read several times: made once)

    def __post_init__(self) -> None:
        if not self.record_id:
            object.__setattr__(self, "record_id", record_id(self.event_source, self.event_id))

    def values(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in CONTENT_COLUMNS}

    def leaf(self) -> bytes:
        """leaf_bytes(self), without parsing and re-encoding `data`: it is canonical JSON already, and every
        other member is a string or null, for which json.dumps writes the canonical form."""
        before = {"action": self.action, "actor": self.actor, "correlationId": self.correlation_id,
                  "customerId": self.customer_id}
        after = {"eventId": self.event_id, "eventSource": self.event_source, "eventType": self.event_type,
                 "id": self.record_id, "occurredAt": timestamp(self.occurred_at), "outcome": self.outcome,
                 "recordedAt": timestamp(self.recorded_at), "service": self.service, "subject": self.subject}
        text = (_dumps(before)[:-1] + ',"data":' + self.data + "," + _dumps(after)[1:])
        return text.encode()


def _dumps(members: Mapping[str, str | None]) -> str:
    return json.dumps(members, separators=(",", ":"), ensure_ascii=False)


def leaf_content(row: Any) -> dict[str, Any]:
    """The fields of a stored row (or a NewRecord) that its leaf holds."""
    return {
        "id": row.record_id, "eventSource": row.event_source, "eventId": row.event_id, "eventType": row.event_type,
        "service": row.service, "action": row.action, "outcome": row.outcome, "actor": row.actor,
        "subject": row.subject, "correlationId": row.correlation_id, "customerId": row.customer_id,
        "occurredAt": timestamp(row.occurred_at), "recordedAt": timestamp(row.recorded_at),
        "data": json.loads(row.data),
    }


def leaf_bytes(row: Any) -> bytes:
    return canonical_json(leaf_content(row)).encode()


@dataclass(frozen=True, slots=True)
class Entry:
    """A record ready to append: its leaf bytes, its content (CONTENT_COLUMNS order) and that content as one
    JSON object (how PostgreSQL takes a round's records in one parameter). Made before the integrator's
    lock is taken, so that the lock is held for as little work as possible."""

    leaf: bytes
    content: tuple[Any, ...]
    row_json: str


def entry(row: Any) -> Entry:
    """The entry of a NewRecord or of a stored (pending) row."""
    leaf = row.leaf() if isinstance(row, NewRecord) else leaf_bytes(row)
    content = tuple(getattr(row, column) for column in CONTENT_COLUMNS)
    row_json = json.dumps({column: value.isoformat() if isinstance(value, datetime) else value
                           for column, value in zip(CONTENT_COLUMNS, content, strict=True)},
                          ensure_ascii=False, separators=(",", ":"))
    return Entry(leaf, content, row_json)
