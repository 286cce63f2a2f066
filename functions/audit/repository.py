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
    bindparam,
    delete,
    func,
    insert,
    literal,
    not_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlmodel import Session

from functions.audit.leaves import CONTENT_COLUMNS
from functions.audit.models import (
    EMPTY_ROOT,
    TREE_HEAD_ID,
    AuditCheckpoint,
    AuditLegalHold,
    AuditPending,
    AuditPurged,
    AuditRecord,
    AuditTreeHash,
    AuditTreeHead,
    AuditUpstreamSequence,
)
from functions.audit.records import Filters

RECORDS = AuditRecord.__table__  # type: ignore[attr-defined]
PENDING = AuditPending.__table__  # type: ignore[attr-defined]
HASHES = AuditTreeHash.__table__  # type: ignore[attr-defined]
HEAD = AuditTreeHead.__table__  # type: ignore[attr-defined]
CHECKPOINTS = AuditCheckpoint.__table__  # type: ignore[attr-defined]
PURGED = AuditPurged.__table__  # type: ignore[attr-defined]
HOLDS = AuditLegalHold.__table__  # type: ignore[attr-defined]
SEQUENCES = AuditUpstreamSequence.__table__  # type: ignore[attr-defined]
RECORD_KIND, PURGED_KIND = 0, 1
# The statements every delivery runs, built once (building one and its cache key costs more than running it);
# rounds.py sends LOCK_HEAD and TAKE_PENDING pipelined.
_INSERT_PENDING = insert(PENDING).returning(PENDING.c.id)
_READ_HEAD = select(HEAD).where(HEAD.c.id == TREE_HEAD_ID)
LOCK_HEAD = _READ_HEAD.with_for_update()
_LOCK_HEAD_IF_FREE = _READ_HEAD.with_for_update(skip_locked=True)
TAKE_PENDING = delete(PENDING).where(PENDING.c.id.in_(
    select(PENDING.c.id).order_by(PENDING.c.id).limit(bindparam("limit")).scalar_subquery())).returning(*PENDING.c)
_MOVE_HEAD = update(HEAD).where(HEAD.c.id == TREE_HEAD_ID)


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

    @property
    def is_postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # ---- ingest ------------------------------------------------------------------------------------

    def insert_pending(self, values: Mapping[str, Any]) -> int:
        new_id = self.session.execute(_INSERT_PENDING, dict(values)).scalar_one()
        return int(new_id)

    def lock_head(self, *, wait: bool = True) -> Any | None:
        """Be the only integrator until this transaction ends, and read the tree head. PostgreSQL locks the
        head row (FOR UPDATE answers its newest committed version once the lock is ours); SQLite's write
        lock already is that. None when `wait` is False and another integrator holds the lock."""
        if not self.is_postgres:
            return self.read_head()
        locking = LOCK_HEAD if wait else _LOCK_HEAD_IF_FREE
        row = self.session.execute(locking).first()
        if row is None and wait:  # tables made with create_all rather than the migration
            self.read_head()
            row = self.session.execute(locking).one()
        return row

    def driver(self) -> Any:
        """The session's psycopg connection, in the session's transaction (PostgreSQL only)."""
        driver = self.session.connection().connection.driver_connection
        assert driver is not None and self.is_postgres
        return driver

    def take_pending(self, limit: int) -> list[Any]:
        """Remove (up to `limit` of) the pending records and answer them, oldest first."""
        rows = self.session.execute(TAKE_PENDING, {"limit": limit}).all()
        return sorted(rows, key=lambda row: int(row.id))

    def read_head(self) -> Any:
        row = self.session.execute(_READ_HEAD).first()
        if row is None:  # tables made with create_all rather than the migration
            self.session.execute(insert(HEAD).values(id=TREE_HEAD_ID, size=0, root=EMPTY_ROOT, checkpoint="",
                                                     frontier=b""))
            row = self.session.execute(select(HEAD).where(HEAD.c.id == TREE_HEAD_ID)).one()
        return row

    def move_head(self, size: int, root: bytes, checkpoint: str, frontier: bytes,
                  kept_at: datetime | None = None) -> None:
        values: dict[str, Any] = {"size": size, "root": root, "checkpoint": checkpoint, "frontier": frontier}
        if kept_at is not None:
            values["kept_at"] = kept_at
        self.session.execute(_MOVE_HEAD, values)

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Stored hashes by index, in the order asked (a missing one is left out: the caller sees a short list)."""
        wanted = sorted(set(indexes))
        found = {int(row.hash_index): bytes(row.hash) for row in self.session.execute(
            select(HASHES.c.hash_index, HASHES.c.hash).where(HASHES.c.hash_index.in_(wanted)))}
        return [found[index] for index in indexes if index in found]

    def hashes_from(self, first: int, batch: int) -> Iterator[tuple[int, bytes]]:
        """Every stored hash from index `first` on, in index order."""
        last = first - 1
        while True:
            rows = self.session.execute(select(HASHES.c.hash_index, HASHES.c.hash)
                                        .where(HASHES.c.hash_index > last).order_by(HASHES.c.hash_index)
                                        .limit(batch)).all()
            for row in rows:
                yield int(row.hash_index), bytes(row.hash)
            if len(rows) < batch:
                return
            last = int(rows[-1].hash_index)

    def insert_hashes(self, first: int, hashes: Sequence[bytes]) -> None:
        if hashes:
            self.session.execute(insert(HASHES), [{"hash_index": first + offset, "hash": value}
                                                  for offset, value in enumerate(hashes)])

    def insert_records(self, first_sequence: int, contents: Sequence[tuple[Any, ...]]) -> None:
        """Records at sequences first_sequence, first_sequence + 1, ...; each content in CONTENT_COLUMNS order."""
        if contents:
            self.session.execute(insert(RECORDS), [{"sequence": first_sequence + offset,
                                                    **dict(zip(CONTENT_COLUMNS, content, strict=True))}
                                                   for offset, content in enumerate(contents)])

    def insert_checkpoint(self, size: int, root: bytes, note: str, created_at: datetime) -> None:
        self.session.execute(insert(CHECKPOINTS).values(size=size, root=root, note=note, created_at=created_at))

    def latest_checkpoint(self) -> Any:
        return self.session.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.size.desc()).limit(1)).first()

    def checkpoints(self, limit: int | None = None) -> list[Any]:
        """Stored checkpoints, newest first (all of them without a limit)."""
        statement = select(CHECKPOINTS).order_by(CHECKPOINTS.c.size.desc())
        if limit is not None:
            statement = statement.limit(limit)
        return list(self.session.execute(statement).all())

    # ---- verification ------------------------------------------------------------------------------

    def log_rows(self, batch: int) -> Iterator[tuple[int, int, Any]]:
        """Records and purged records merged in sequence order: (sequence, kind, row)."""
        def rows(table: Any, kind: int) -> Iterator[tuple[int, int, Any]]:
            last = 0
            while True:
                page = self.session.execute(select(table).where(table.c.sequence > last)
                                            .order_by(table.c.sequence).limit(batch)).all()
                for row in page:
                    yield int(row.sequence), kind, row
                if len(page) < batch:
                    return
                last = int(page[-1].sequence)

        return heapq.merge(rows(RECORDS, RECORD_KIND), rows(PURGED, PURGED_KIND))

    # ---- compliance rules --------------------------------------------------------------------------

    def failed_events(self, customer_id: str, actions: Sequence[str], after: datetime,
                      until: datetime) -> list[tuple[str, datetime]]:
        """(event id, occurred_at) of `actions` for a customer with occurred_at in (after, until], integrated
        or pending, in time order (integrated before pending, each in the order it will hold in the log)."""
        def matching(table: Any, order: Any, kind: int) -> Select[Any]:
            return select(table.c.event_id, table.c.occurred_at, order.label("position"),
                          literal(kind).label("kind")).where(
                table.c.customer_id == customer_id, table.c.action.in_(actions),
                table.c.occurred_at > after, table.c.occurred_at <= until)

        both = union_all(matching(RECORDS, RECORDS.c.sequence, 0), matching(PENDING, PENDING.c.id, 1)).subquery()
        statement = select(both.c.event_id, both.c.occurred_at).order_by(both.c.occurred_at, both.c.kind,
                                                                         both.c.position)
        return [(row.event_id, row.occurred_at) for row in self.session.execute(statement)]

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

    def find_purged(self, record_id: str) -> Any:
        return self.session.execute(select(PURGED).where(PURGED.c.record_id == record_id)).first()

    def record_at(self, sequence: int) -> Any:
        return self.session.execute(select(RECORDS).where(RECORDS.c.sequence == sequence)).first()

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

    def purge_expired(self, cutoff: datetime, now: datetime) -> int:
        """Remove the content of every expired, un-held record, noting it as purged; answer how many."""
        expired, unheld = self._expired(cutoff)
        self.session.execute(insert(PURGED).from_select(
            ["sequence", "record_id", "purged_at"],
            select(RECORDS.c.sequence, RECORDS.c.record_id,
                   literal(db_time(self.session, now), PURGED.c.purged_at.type)).where(expired, unheld)))
        deleted = self._write(delete(RECORDS).where(RECORDS.c.sequence.in_(select(PURGED.c.sequence))))
        return int(deleted.rowcount)
