"""Handled-event records: CloudEvents are unique by (source, id).

The record is written in the same transaction as the handler's state change, so either both exist
or neither does. A redelivered event finds its record and gets the stored outputs back unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ARRAY, Column, DateTime, Text, any_, bindparam, insert, select
from sqlmodel import Field, Session, SQLModel


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"

    source: str = Field(primary_key=True, max_length=512)
    event_id: str = Field(primary_key=True, max_length=512)
    event_type: str = Field(max_length=128)
    outputs: str = Field(sa_column=Column(Text, nullable=False))
    handled_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


_TABLE = ProcessedEvent.__table__  # type: ignore[attr-defined]

# Core statements rather than the ORM: this runs on every event, and skipping the identity map and
# unit of work halves its cost. Built once and executed with parameters: no statement or cache key per event.


_FIND = select(_TABLE.c.outputs).where(_TABLE.c.source == bindparam("source"),
                                       _TABLE.c.event_id == bindparam("event_id"))
_REMEMBER = insert(_TABLE)
_REMEMBER_ARRAYS = ("INSERT INTO processed_events (source, event_id, event_type, outputs, handled_at) "
                    "SELECT *, %s::timestamptz FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])")
# (the placeholders in the order written: the handling time first, then the four arrays)
_FIND_MANY_ARRAYS = select(_TABLE.c.source, _TABLE.c.event_id, _TABLE.c.outputs).where(
    _TABLE.c.source == any_(bindparam("sources", type_=ARRAY(Text))),
    _TABLE.c.event_id == any_(bindparam("event_ids", type_=ARRAY(Text))))


def find(session: Session, source: str, event_id: str) -> list[dict[str, Any]] | None:
    stored = session.connection().execute(_FIND, {"source": source, "event_id": event_id}).scalar_one_or_none()
    if stored is None:
        return None
    outputs: list[dict[str, Any]] = json.loads(stored)
    return outputs


def find_many(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The stored outputs of those of `keys` (source, event id) already handled, in one query."""
    if not keys:
        return {}
    wanted = set(keys)
    if len(wanted) == 1:  # one delivery (the usual case): the primary key lookup
        [(source, event_id)] = wanted
        found = find(session, source, event_id)
        return {} if found is None else {(source, event_id): found}
    sources, event_ids = sorted({source for source, _ in wanted}), sorted({event_id for _, event_id in wanted})
    connection = session.connection()
    # Sources and ids each as a list (the primary key's index takes both); pairs that match only across
    # keys are dropped below. PostgreSQL takes the lists as two array parameters: one statement text
    # whatever the batch size, instead of one placeholder per value to render and parse each time.
    if connection.dialect.name == "postgresql":
        rows = connection.execute(_FIND_MANY_ARRAYS, {"sources": sources, "event_ids": event_ids}).all()
    else:
        rows = connection.execute(select(_TABLE.c.source, _TABLE.c.event_id, _TABLE.c.outputs).where(
            _TABLE.c.source.in_(sources), _TABLE.c.event_id.in_(event_ids))).all()
    return {(row.source, row.event_id): json.loads(row.outputs) for row in rows
            if (row.source, row.event_id) in wanted}


def remember_many(session: Session, handled: list[tuple[str, str, str, list[dict[str, Any]]]]) -> None:
    """Record events (source, id, type, outputs) in one statement; a concurrent duplicate fails here."""
    if not handled:
        return
    session.flush()  # the handlers' pending ORM writes go first, in the same transaction
    now = datetime.now(UTC)
    connection = session.connection()
    if len(handled) > 1 and connection.dialect.name == "postgresql":
        # One multi-row INSERT of arrays: one statement to send and plan, not one per event.
        sources, event_ids, event_types, outputs = zip(*handled, strict=True)
        connection.exec_driver_sql(_REMEMBER_ARRAYS, (
            now, list(sources), list(event_ids), list(event_types),
            [json.dumps(item, separators=(",", ":")) for item in outputs]))
        return
    connection.execute(_REMEMBER, [
        {"source": source, "event_id": event_id, "event_type": event_type,
         "outputs": json.dumps(outputs, separators=(",", ":")), "handled_at": now}
        for source, event_id, event_type, outputs in handled])
