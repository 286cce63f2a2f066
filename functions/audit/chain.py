"""The hash chain: canonical JSON, appending a record, and recomputing the chain to prove it intact.

hash(n) = SHA-256 of the canonical JSON of record n's content with `prevHash` = hash(n-1). The
sequence is part of the content, so moving a row changes its hash. Writers take the chain-head row
with SELECT ... FOR UPDATE (through the repository), so on PostgreSQL sequence and prev_hash are
assigned one writer at a time (SQLite already serializes writers in the store). No SQL here.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.audit.models import AuditRecord

if TYPE_CHECKING:
    from functions.audit.repository import Repository

RECORD_ID_NAMESPACE = uuid.UUID("0b9d7c8e-3f7a-4a51-9a3e-6b2f4c1d8e21")
RECORD_KIND = 0  # chain rows are records (kind 0) or tombstones of purged records
COLUMNS = ("sequence", "record_id", "event_source", "event_id", "event_type", "service", "action", "outcome",
           "actor", "subject", "correlation_id", "customer_id", "occurred_at", "recorded_at", "data", "prev_hash",
           "hash")


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


def append(repository: Repository, new: NewRecord) -> AuditRecord:
    """Give `new` the next sequence, link and hash it, store it and move the head. Caller's transaction."""
    return append_many(repository, [new])[0]


def append_many(repository: Repository, news: list[NewRecord]) -> list[AuditRecord]:
    """Append records in order with one head lock, one multi-row insert and one head update."""
    head = repository.lock_head()
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
    repository.insert_records([{name: getattr(record, name) for name in COLUMNS} for record in records])
    repository.move_head(sequence, previous)
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


def verify(repository: Repository, *, start: Any = None, trusted: dict[int, str] | None = None,
           batch: int = 5000) -> Verification:
    """Recompute the chain from `start` (a checkpoint already checked by the caller) or from its base.

    `trusted` maps sequences to hashes held elsewhere (signed checkpoints): the chain must agree there.
    """
    head = repository.read_head()
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

    for sequence, kind, row in repository.chain_rows(expected - 1, batch):
        if sequence != expected:
            return bad(expected, "missing" if sequence > expected else "duplicate")
        if row.prev_hash != previous:
            return bad(sequence, "prev_hash does not link to the previous record")
        if kind == RECORD_KIND and compute_hash(row) != row.hash:
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
