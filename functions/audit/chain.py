"""The hash chain: canonical JSON, appending a record, and recomputing the chain to prove it intact.

hash(n) = SHA-256 of the canonical JSON of record n's content with `prevHash` = hash(n-1). The
sequence is part of the content, so moving a row changes its hash. Writers take the chain-head row
with SELECT ... FOR UPDATE, so on PostgreSQL sequence and prev_hash are assigned one writer at a time
(SQLite already serializes writers in the store).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from functions.audit.models import (
    CHAIN_HEAD_ID,
    GENESIS_HASH,
    AuditChainHead,
    AuditRecord,
    AuditTombstone,
)

RECORD_ID_NAMESPACE = uuid.UUID("0b9d7c8e-3f7a-4a51-9a3e-6b2f4c1d8e21")
_RECORDS = AuditRecord.__table__  # type: ignore[attr-defined]
_HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]
_TOMBSTONES = AuditTombstone.__table__  # type: ignore[attr-defined]


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 text: one byte string per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def timestamp(value: datetime) -> str:
    """UTC with microseconds; a naive value (SQLite returns those) is UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_id(event_source: str, event_id: str) -> str:
    return "aud_" + uuid.uuid5(RECORD_ID_NAMESPACE, f"{event_source}\x1f{event_id}").hex


@dataclass(frozen=True, slots=True)
class NewRecord:
    """What a record holds before the chain gives it a sequence and hashes."""

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


def content(row: Any) -> dict[str, Any]:
    """The hashed fields of a stored row or a NewRecord (plus its sequence and prev_hash)."""
    return {
        "sequence": int(row.sequence), "recordId": row.record_id, "eventSource": row.event_source,
        "eventId": row.event_id, "eventType": row.event_type, "service": row.service, "action": row.action,
        "outcome": row.outcome, "actor": row.actor, "subject": row.subject, "correlationId": row.correlation_id,
        "customerId": row.customer_id, "occurredAt": timestamp(row.occurred_at),
        "recordedAt": timestamp(row.recorded_at), "data": row.data, "prevHash": row.prev_hash,
    }


def compute_hash(row: Any) -> str:
    return hashlib.sha256(canonical_json(content(row)).encode()).hexdigest()


def lock_head(session: Session) -> AuditChainHead:
    """The chain head, locked until the transaction ends (FOR UPDATE is a no-op on SQLite)."""
    row = session.connection().execute(select(_HEAD).where(_HEAD.c.id == CHAIN_HEAD_ID).with_for_update()).first()
    if row is None:  # tables made with create_all rather than the migration
        session.connection().execute(_HEAD.insert().values(id=CHAIN_HEAD_ID, sequence=0, hash=GENESIS_HASH,
                                                          base_sequence=0, base_hash=GENESIS_HASH))
        row = session.connection().execute(select(_HEAD).where(_HEAD.c.id == CHAIN_HEAD_ID).with_for_update()).one()
    return AuditChainHead(id=row.id, sequence=row.sequence, hash=row.hash, base_sequence=row.base_sequence,
                          base_hash=row.base_hash)


def read_head(session: Session) -> AuditChainHead:
    row = session.connection().execute(select(_HEAD).where(_HEAD.c.id == CHAIN_HEAD_ID)).first()
    if row is None:
        return AuditChainHead(id=CHAIN_HEAD_ID, sequence=0, hash=GENESIS_HASH, base_sequence=0,
                              base_hash=GENESIS_HASH)
    return AuditChainHead(id=row.id, sequence=row.sequence, hash=row.hash, base_sequence=row.base_sequence,
                          base_hash=row.base_hash)


def append(session: Session, new: NewRecord) -> AuditRecord:
    """Give `new` the next sequence, link and hash it, store it and move the head. Caller's transaction."""
    return append_many(session, [new])[0]


def append_many(session: Session, news: list[NewRecord]) -> list[AuditRecord]:
    """Append records in order with one lock, one multi-row insert and one head update."""
    head = lock_head(session)
    sequence, previous = head.sequence, head.hash
    records = []
    for new in news:
        sequence += 1
        record = AuditRecord(sequence=sequence, record_id=record_id(new.event_source, new.event_id),
                             event_source=new.event_source, event_id=new.event_id, event_type=new.event_type,
                             service=new.service, action=new.action, outcome=new.outcome, actor=new.actor,
                             subject=new.subject, correlation_id=new.correlation_id, customer_id=new.customer_id,
                             occurred_at=new.occurred_at, recorded_at=new.recorded_at, data=new.data,
                             prev_hash=previous, hash="")
        record.hash = previous = compute_hash(record)
        records.append(record)
    if not records:
        return records
    columns = [column.name for column in _RECORDS.c]
    session.connection().execute(_RECORDS.insert(), [{name: getattr(record, name) for name in columns}
                                                     for record in records])
    session.connection().execute(update(_HEAD).where(_HEAD.c.id == CHAIN_HEAD_ID)
                                 .values(sequence=sequence, hash=previous))
    return records


# ---- verification -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Verification:
    ok: bool
    count: int
    head_sequence: int
    head_hash: str
    first_bad_sequence: int | None = None
    problem: str | None = None
    start_sequence: int = 0

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "count": self.count,
                                "head": {"sequence": self.head_sequence, "hash": self.head_hash},
                                "from": self.start_sequence}
        if self.first_bad_sequence is not None:
            body["firstBadSequence"] = self.first_bad_sequence
            body["problem"] = self.problem
        return body


def _stream(session: Session, after: int, batch: int) -> Iterator[tuple[int, int, Any]]:
    """Records and tombstones after `after`, merged in sequence order: (sequence, kind, row)."""
    def rows(table: Any, kind: int) -> Iterator[tuple[int, int, Any]]:
        last = after
        while True:
            page = session.connection().execute(
                select(table).where(table.c.sequence > last).order_by(table.c.sequence).limit(batch)).all()
            for row in page:
                yield int(row.sequence), kind, row
            if len(page) < batch:
                return
            last = int(page[-1].sequence)

    return heapq.merge(rows(_RECORDS, 0), rows(_TOMBSTONES, 1))


def verify(session: Session, *, start: Any = None, trusted: dict[int, str] | None = None,
           batch: int = 5000) -> Verification:
    """Recompute the chain from `start` (a checkpoint already checked by the caller) or from its base.

    `trusted` maps sequences to hashes held elsewhere (signed checkpoints): the chain must agree there.
    """
    head = read_head(session)
    if start is not None:
        expected, previous = start.sequence + 1, start.hash
    else:
        expected, previous = head.base_sequence + 1, head.base_hash
    result = Verification(ok=True, count=0, head_sequence=head.sequence, head_hash=head.hash,
                          start_sequence=expected - 1)
    trusted = trusted or {}

    def bad(sequence: int, problem: str) -> Verification:
        result.ok, result.first_bad_sequence, result.problem = False, sequence, problem
        return result

    for sequence, kind, row in _stream(session, expected - 1, batch):
        if sequence != expected:
            return bad(expected, "missing" if sequence > expected else "duplicate")
        if row.prev_hash != previous:
            return bad(sequence, "prev_hash does not link to the previous record")
        if kind == 0 and compute_hash(row) != row.hash:
            return bad(sequence, "content does not match its hash")
        if sequence in trusted and trusted[sequence] != row.hash:
            return bad(sequence, "differs from a signed checkpoint")
        previous = row.hash
        expected += 1
        result.count += 1
    last = expected - 1
    if last < head.sequence:
        return bad(expected, "missing")
    if last > head.sequence:
        return bad(head.sequence + 1, "beyond the chain head")
    if previous != head.hash:
        return bad(last, "head hash does not match the last record")
    return result
