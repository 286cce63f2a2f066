"""Reading the log: filtered pages ordered by (occurred_at, sequence) with an opaque cursor, and export.

Every filter has an index that ends in (occurred_at, sequence), so a page is an index range scan
however many rows the table holds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlmodel import Session

from functions.audit.chain import timestamp
from functions.audit.models import AuditRecord
from shared.errors import EventError

_RECORDS = AuditRecord.__table__  # type: ignore[attr-defined]
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
FILTERS = {"service": "service", "action": "action", "subject": "subject", "correlationId": "correlation_id"}


def bad_query(name: str, rule: str, message: str) -> EventError:
    return EventError.field(400, "invalid_query", name, rule, message)


def record_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.record_id, "sequence": int(row.sequence), "service": row.service, "action": row.action,
        "outcome": row.outcome, "actor": row.actor, "subject": row.subject, "correlationId": row.correlation_id,
        "customerId": row.customer_id, "occurredAt": timestamp(row.occurred_at),
        "recordedAt": timestamp(row.recorded_at), "source": row.event_source, "eventId": row.event_id,
        "eventType": row.event_type,
        "data": json.loads(row.data), "prevHash": row.prev_hash, "hash": row.hash,
    }


def parse_time(name: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise bad_query(name, "datetime", f"{name} must be an ISO 8601 time") from None
    if value.tzinfo is None:
        raise bad_query(name, "timezone", f"{name} must carry a timezone offset")
    return value.astimezone(UTC)


def encode_cursor(row: Any) -> str:
    text = f"{timestamp(row.occurred_at)}|{int(row.sequence)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, sequence = text.split("|")
        return datetime.strptime(when, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC), int(sequence)
    except (ValueError, UnicodeDecodeError):
        raise bad_query("cursor", "cursor", "cursor is not one this API returned") from None


def _db_time(session: Session, value: datetime) -> datetime:
    # SQLite stores naive UTC text: compare with naive UTC values.
    if session.get_bind().dialect.name == "sqlite":
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


@dataclass(frozen=True, slots=True)
class Filters:
    equals: dict[str, str]
    start: datetime | None = None
    end: datetime | None = None


def parse_filters(args: Mapping[str, str]) -> Filters:
    equals = {column: args[name] for name, column in FILTERS.items() if args.get(name)}
    start = parse_time("from", args["from"]) if args.get("from") else None
    end = parse_time("to", args["to"]) if args.get("to") else None
    return Filters(equals, start, end)


def _filtered(session: Session, filters: Filters) -> Select[Any]:
    statement = select(_RECORDS)
    for column, value in filters.equals.items():
        statement = statement.where(_RECORDS.c[column] == value)
    if filters.start is not None:
        statement = statement.where(_RECORDS.c.occurred_at >= _db_time(session, filters.start))
    if filters.end is not None:
        statement = statement.where(_RECORDS.c.occurred_at < _db_time(session, filters.end))
    return statement


def page(session: Session, args: Mapping[str, str]) -> dict[str, Any]:
    """`{"items": [...], "nextCursor": str | None}` for GET /events."""
    filters = parse_filters(args)
    try:
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise bad_query("limit", "integer", "limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_query("limit", "range", f"limit must be between 1 and {MAX_LIMIT}")
    statement = _filtered(session, filters)
    if args.get("cursor"):
        after_time, after_sequence = decode_cursor(args["cursor"])
        statement = statement.where(tuple_(_RECORDS.c.occurred_at, _RECORDS.c.sequence)
                                    > tuple_(_db_time(session, after_time), after_sequence))
    statement = statement.order_by(_RECORDS.c.occurred_at, _RECORDS.c.sequence).limit(limit + 1)
    rows = session.connection().execute(statement).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [record_json(row) for row in rows], "nextCursor": encode_cursor(rows[-1]) if more else None}


def find(session: Session, record_id: str) -> dict[str, Any] | None:
    row = session.connection().execute(select(_RECORDS).where(_RECORDS.c.record_id == record_id)).first()
    return record_json(row) if row is not None else None


def export(session: Session, args: Mapping[str, str], batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every record with occurred_at in [from, to), in page order, fetched in keyset batches."""
    yield from export_batched(lambda: nullcontext(session), args, batch)


def export_batched(open_session: Callable[[], AbstractContextManager[Session]], args: Mapping[str, str],
                   batch: int = 2000) -> Iterator[dict[str, Any]]:
    """As `export`, opening a session per batch so a long export holds no transaction open."""
    filters = parse_filters(args)
    after: tuple[datetime, int] | None = None
    while True:
        with open_session() as session:
            statement = _filtered(session, filters)
            if after is not None:
                statement = statement.where(tuple_(_RECORDS.c.occurred_at, _RECORDS.c.sequence)
                                            > tuple_(after[0], after[1]))
            statement = statement.order_by(_RECORDS.c.occurred_at, _RECORDS.c.sequence).limit(batch)
            rows = session.connection().execute(statement).all()
        for row in rows:
            yield record_json(row)
        if len(rows) < batch:
            return
        after = (rows[-1].occurred_at, int(rows[-1].sequence))


def export_lines(session: Session, args: Mapping[str, str]) -> Iterator[str]:
    for item in export(session, args):
        yield json_line(item)


def json_line(item: dict[str, Any]) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
