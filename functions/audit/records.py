"""How readers see the log: a record's JSON, the filters of a listing and its opaque page cursor."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.audit.leaves import leaf_bytes, timestamp
from shared.contract import TIME_MAX, TIME_MIN, bad_query

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# query parameter -> column
FILTERS = {"service": "service", "action": "action", "subject": "subject", "correlationId": "correlation_id"}


@dataclass(frozen=True, slots=True)
class Filters:
    equals: dict[str, str]
    start: datetime | None = None
    end: datetime | None = None


def record_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.record_id, "sequence": int(row.sequence), "service": row.service, "action": row.action,
        "outcome": row.outcome, "actor": row.actor, "subject": row.subject, "correlationId": row.correlation_id,
        "customerId": row.customer_id, "occurredAt": timestamp(row.occurred_at),
        "recordedAt": timestamp(row.recorded_at), "source": row.event_source, "eventId": row.event_id,
        "eventType": row.event_type,
        "data": json.loads(row.data), "leafIndex": int(row.sequence) - 1,
        "leaf": base64.b64encode(leaf_bytes(row)).decode(),
    }


def purged_json(row: Any) -> dict[str, Any]:
    """A record whose content the retention purge removed: only its place in the log is left."""
    return {"id": row.record_id, "sequence": int(row.sequence), "leafIndex": int(row.sequence) - 1, "purged": True,
            "purgedAt": timestamp(row.purged_at)}


def json_line(item: dict[str, Any]) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def encode_cursor(row: Any) -> str:
    text = f"{timestamp(row.occurred_at)}|{int(row.sequence)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(occurred_at, sequence) of a cursor this API returned; a 400 for anything else (out-of-range times
    and sequences too, which a database would otherwise overflow on)."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, sequence_text = text.split("|")
        at = datetime.strptime(when, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        sequence = int(sequence_text)
    except (ValueError, UnicodeDecodeError):
        raise bad_query("cursor", "cursor", "cursor is not one this API returned") from None
    if not (TIME_MIN <= at < TIME_MAX and sequence_text.isascii() and 0 <= sequence < 2**63):
        raise bad_query("cursor", "cursor", "cursor is not one this API returned")
    return at, sequence
