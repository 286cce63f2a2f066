"""All SQL of the audit function: reads with select(...), writes as Core statements, through the session."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Executable,
    Select,
    and_,
    delete,
    func,
    insert,
    literal,
    not_,
    select,
    tuple_,
    update,
)
from sqlmodel import Session

from functions.audit.chain import RECORD_KIND
from functions.audit.models import (
    CHAIN_HEAD_ID,
    GENESIS_HASH,
    AuditChainHead,
    AuditCheckpoint,
    AuditLegalHold,
    AuditRecord,
    AuditTombstone,
    AuditUpstreamSequence,
)
from functions.audit.records import Filters

RECORDS = AuditRecord.__table__  # type: ignore[attr-defined]
HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]
TOMBSTONES = AuditTombstone.__table__  # type: ignore[attr-defined]
CHECKPOINTS = AuditCheckpoint.__table__  # type: ignore[attr-defined]
HOLDS = AuditLegalHold.__table__  # type: ignore[attr-defined]
SEQUENCES = AuditUpstreamSequence.__table__  # type: ignore[attr-defined]
TOMBSTONE_KIND = RECORD_KIND + 1


def _head(row: Any) -> AuditChainHead:
    return AuditChainHead(id=row.id, sequence=row.sequence, hash=row.hash, base_sequence=row.base_sequence,
                          base_hash=row.base_hash)


def db_time(session: Session, value: datetime) -> datetime:
    """SQLite stores naive UTC text: compare with naive UTC values there."""
    if session.get_bind().dialect.name == "sqlite" and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _filtered(session: Session, filters: Filters) -> Select[Any]:
    statement = select(RECORDS)
    for column, value in filters.equals.items():
        statement = statement.where(RECORDS.c[column] == value)
    if filters.start is not None:
        statement = statement.where(RECORDS.c.occurred_at >= db_time(session, filters.start))
    if filters.end is not None:
        statement = statement.where(RECORDS.c.occurred_at < db_time(session, filters.end))
    return statement


def export_batched(open_session: Callable[[], AbstractContextManager[Session]], filters: Filters,
                   batch: int = 2000) -> Iterator[Any]:
    """Records matching `filters` in page order, one short session per keyset batch."""
    after: tuple[datetime, int] | None = None
    while True:
        with open_session() as session:
            rows = Repository(session).page(filters, after, batch)
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].occurred_at, int(rows[-1].sequence))


class Repository:
    """The audit tables as seen from one open session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _write(self, statement: Executable) -> CursorResult[Any]:
        return cast(CursorResult[Any], self.session.execute(statement))

    # ---- the chain ---------------------------------------------------------------------------------

    def lock_head(self) -> AuditChainHead:
        """The chain head, locked until the transaction ends (FOR UPDATE is a no-op on SQLite)."""
        locked = select(HEAD).where(HEAD.c.id == CHAIN_HEAD_ID).with_for_update()
        row = self.session.execute(locked).first()
        if row is None:  # tables made with create_all rather than the migration
            self.session.execute(insert(HEAD).values(id=CHAIN_HEAD_ID, sequence=0, hash=GENESIS_HASH,
                                                  base_sequence=0, base_hash=GENESIS_HASH))
            row = self.session.execute(locked).one()
        return _head(row)

    def read_head(self) -> AuditChainHead:
        row = self.session.execute(select(HEAD).where(HEAD.c.id == CHAIN_HEAD_ID)).first()
        if row is None:
            return AuditChainHead(id=CHAIN_HEAD_ID, sequence=0, hash=GENESIS_HASH, base_sequence=0,
                                  base_hash=GENESIS_HASH)
        return _head(row)

    def insert_records(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.session.execute(insert(RECORDS), list(rows))

    def move_head(self, sequence: int, head_hash: str) -> None:
        self.session.execute(update(HEAD).where(HEAD.c.id == CHAIN_HEAD_ID).values(sequence=sequence, hash=head_hash))

    def move_base(self, sequence: int, base_hash: str) -> None:
        self.session.execute(update(HEAD).where(HEAD.c.id == CHAIN_HEAD_ID)
                             .values(base_sequence=sequence, base_hash=base_hash))

    def chain_rows(self, after: int, batch: int) -> Iterator[tuple[int, int, Any]]:
        """Records and tombstones after `after`, merged in sequence order: (sequence, kind, row)."""
        def rows(table: Any, kind: int) -> Iterator[tuple[int, int, Any]]:
            last = after
            while True:
                page = self.session.execute(select(table).where(table.c.sequence > last)
                                            .order_by(table.c.sequence).limit(batch)).all()
                for row in page:
                    yield int(row.sequence), kind, row
                if len(page) < batch:
                    return
                last = int(page[-1].sequence)

        return heapq.merge(rows(RECORDS, RECORD_KIND), rows(TOMBSTONES, TOMBSTONE_KIND))

    # ---- checkpoints -------------------------------------------------------------------------------

    def insert_checkpoint(self, values: Mapping[str, Any]) -> Any:
        new_id = self.session.execute(insert(CHECKPOINTS).values(**values).returning(CHECKPOINTS.c.id)).scalar_one()
        return self.session.execute(select(CHECKPOINTS).where(CHECKPOINTS.c.id == new_id)).one()

    def checkpoints(self) -> list[Any]:
        return list(self.session.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id)).all())

    # ---- compliance rules --------------------------------------------------------------------------

    def failed_event_ids(self, customer_id: str, actions: Sequence[str], after: datetime,
                         until: datetime) -> list[str]:
        """Event ids of `actions` for a customer with occurred_at in (after, until], in time order."""
        statement = (select(RECORDS.c.event_id).where(
            RECORDS.c.customer_id == customer_id, RECORDS.c.action.in_(actions),
            RECORDS.c.occurred_at > after, RECORDS.c.occurred_at <= until)
            .order_by(RECORDS.c.occurred_at, RECORDS.c.sequence))
        return list(self.session.execute(statement).scalars())

    def upstream_event_id(self, stream: str, sequence: int) -> str | None:
        found: str | None = self.session.execute(select(SEQUENCES.c.event_id).where(
            SEQUENCES.c.stream == stream, SEQUENCES.c.sequence == sequence)).scalar_one_or_none()
        return found

    def upstream_highest(self, stream: str) -> int | None:
        highest = self.session.execute(select(func.max(SEQUENCES.c.sequence))
                                       .where(SEQUENCES.c.stream == stream)).scalar()
        return int(highest) if highest is not None else None

    def remember_upstream(self, stream: str, sequence: int, event_id: str, seen_at: datetime) -> None:
        self.session.execute(insert(SEQUENCES).values(stream=stream, sequence=sequence, event_id=event_id,
                                                   seen_at=seen_at))

    # ---- reading -----------------------------------------------------------------------------------

    def page(self, filters: Filters, after: tuple[datetime, int] | None, limit: int) -> list[Any]:
        statement = _filtered(self.session, filters)
        if after is not None:
            statement = statement.where(tuple_(RECORDS.c.occurred_at, RECORDS.c.sequence)
                                        > tuple_(db_time(self.session, after[0]), after[1]))
        statement = statement.order_by(RECORDS.c.occurred_at, RECORDS.c.sequence).limit(limit)
        return list(self.session.execute(statement).all())

    def find(self, record_id: str) -> Any:
        return self.session.execute(select(RECORDS).where(RECORDS.c.record_id == record_id)).first()

    # ---- legal holds -------------------------------------------------------------------------------

    def insert_hold(self, kind: str, value: str, reason: str, now: datetime) -> Any:
        new_id = self.session.execute(insert(HOLDS).values(kind=kind, value=value, reason=reason, created_at=now)
                                      .returning(HOLDS.c.id)).scalar_one()
        return self.session.execute(select(HOLDS).where(HOLDS.c.id == new_id)).one()

    def release_hold(self, hold_id: int, now: datetime) -> bool:
        released = self._write(update(HOLDS).where(HOLDS.c.id == hold_id, HOLDS.c.released_at.is_(None))
                               .values(released_at=now)).rowcount
        return bool(released)

    def holds(self, active_only: bool) -> list[Any]:
        statement = select(HOLDS).order_by(HOLDS.c.id)
        if active_only:
            statement = statement.where(HOLDS.c.released_at.is_(None))
        return list(self.session.execute(statement).all())

    # ---- retention ---------------------------------------------------------------------------------

    def _expired(self, cutoff: datetime) -> tuple[Any, Any]:
        active = HOLDS.c.released_at.is_(None)
        held_subjects = select(HOLDS.c.value).where(active, HOLDS.c.kind == "subject")
        held_correlations = select(HOLDS.c.value).where(active, HOLDS.c.kind == "correlation")
        expired = RECORDS.c.recorded_at < db_time(self.session, cutoff)
        unheld = and_(not_(RECORDS.c.subject.in_(held_subjects)),
                      not_(RECORDS.c.correlation_id.in_(held_correlations)))
        return expired, unheld

    def count_expired(self, cutoff: datetime) -> tuple[int, int]:
        """(expired records, of which no active hold covers)."""
        expired, unheld = self._expired(cutoff)
        count = select(func.count()).select_from(RECORDS)
        total = int(self.session.execute(count.where(expired)).scalar_one())
        purgeable = int(self.session.execute(count.where(expired, unheld)).scalar_one())
        return total, purgeable

    def tombstone_expired(self, cutoff: datetime, now: datetime) -> int:
        """Turn every expired, un-held record into a tombstone; answer how many records went."""
        expired, unheld = self._expired(cutoff)
        self.session.execute(insert(TOMBSTONES).from_select(
            ["sequence", "prev_hash", "hash", "purged_at"],
            select(RECORDS.c.sequence, RECORDS.c.prev_hash, RECORDS.c.hash,
                   literal(db_time(self.session, now), TOMBSTONES.c.purged_at.type)).where(expired, unheld)))
        deleted = self._write(delete(RECORDS).where(RECORDS.c.sequence.in_(select(TOMBSTONES.c.sequence))))
        return int(deleted.rowcount)

    def oldest_record_sequence(self) -> int | None:
        oldest = self.session.execute(select(func.min(RECORDS.c.sequence))).scalar()
        return int(oldest) if oldest is not None else None

    def tombstone_hash(self, sequence: int) -> str:
        found: str = self.session.execute(select(TOMBSTONES.c.hash).where(TOMBSTONES.c.sequence == sequence)
                                       ).scalar_one()
        return found

    def drop_tombstones_through(self, sequence: int) -> None:
        self.session.execute(delete(TOMBSTONES).where(TOMBSTONES.c.sequence <= sequence))
