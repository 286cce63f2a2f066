"""Handled-event records: CloudEvents are unique by (source, id).

The record is written in the same transaction as the handler's state change, so either both exist
or neither does. A redelivered event finds its record and gets the stored outputs back unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Text, bindparam, insert, select
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


def find(session: Session, source: str, event_id: str) -> list[dict[str, Any]] | None:
    stored = session.connection().execute(_FIND, {"source": source, "event_id": event_id}).scalar_one_or_none()
    if stored is None:
        return None
    outputs: list[dict[str, Any]] = json.loads(stored)
    return outputs


def remember(session: Session, source: str, event_id: str, event_type: str,
             outputs: list[dict[str, Any]]) -> None:
    """Record the event; a concurrent duplicate fails here (IntegrityError), inside the transaction."""
    session.flush()  # the handler's pending ORM writes go first, in the same transaction
    session.connection().execute(_REMEMBER, {
        "source": source, "event_id": event_id, "event_type": event_type,
        "outputs": json.dumps(outputs, separators=(",", ":")), "handled_at": datetime.now(UTC)})
