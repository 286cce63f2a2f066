"""The SQL of one integration round, in as few round trips as the database allows.

The integrator holds the tree head's lock from reading the head until its transaction commits, so every
round trip to the database in between is time in which no other round can run. On PostgreSQL a round
is three: (1) lock and read the head and take the pending records, pipelined; (2) every write,
pipelined, the records as one JSON array and the hashes as one bytea, each one multi-row INSERT; (3) the
commit. Locking is the head row's lock
(SELECT ... FOR UPDATE answers the newest committed head once the lock is ours). SQLite runs the same
steps statement by statement under its write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from functions.audit.leaves import CONTENT_COLUMNS, Entry
from functions.audit.models import TREE_HEAD_ID
from functions.audit.repository import LOCK_HEAD, TAKE_PENDING, Repository

# A round's hashes as one bytea (32 bytes each) and its records as one JSON array: a handful of parameters
# to send under the lock, however many records the round holds.
_HASHES = ("INSERT INTO audit_tree_hashes (hash_index, hash) SELECT %s::bigint + i, "
           "substring(%s::bytea FROM i * 32 + 1 FOR 32) FROM generate_series(0, %s - 1) AS i")
_RECORD_TYPES = {"occurred_at": "timestamptz", "recorded_at": "timestamptz"}
_COLUMNS = ", ".join(CONTENT_COLUMNS)
_RECORDS = (f"INSERT INTO audit_records (sequence, {_COLUMNS}) SELECT %s::bigint + r.ord - 1, {_COLUMNS} "  # noqa: S608
            "FROM ROWS FROM (json_to_recordset(%s::json) AS ("
            + ", ".join(f"{column} {_RECORD_TYPES.get(column, 'text')}" for column in CONTENT_COLUMNS)
            + f")) WITH ORDINALITY AS r({_COLUMNS}, ord)")
_MOVE = "UPDATE audit_tree_head SET size = %s, root = %s, checkpoint = %s, frontier = %s, kept_at = {} WHERE id = %s"
_KEEP = "INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES (%s, %s, %s, %s)"


@dataclass(frozen=True, slots=True)
class Writes:
    """What a round appends: stored hashes from `first_hash`, records from `first_sequence`, the new head,
    and the checkpoint to keep in the history (if any)."""

    first_hash: int
    hashes: Sequence[bytes]
    first_sequence: int
    entries: Sequence[Entry]
    size: int
    root: bytes
    note: str
    frontier: bytes
    kept_at: datetime | None


def open_round(repository: Repository, limit: int, *, wait: bool = True) -> tuple[Any, list[Any]] | None:
    """Lock and read the tree head and take up to `limit` pending records (oldest first). Without `wait`,
    None when another integrator holds the lock (nothing is taken then)."""
    if not repository.is_postgres or not wait:
        head = repository.lock_head(wait=wait)
        return None if head is None else (head, repository.take_pending(limit))
    import psycopg
    from psycopg.rows import namedtuple_row

    lock_sql, take_sql = _pipelined_reads(repository.session.get_bind().dialect)
    driver = repository.driver()
    try:
        with (driver.pipeline(), driver.cursor(row_factory=namedtuple_row) as heads,
              driver.cursor(row_factory=namedtuple_row) as pending):
            heads.execute(lock_sql, {"id_1": TREE_HEAD_ID})
            pending.execute(take_sql, {"limit": limit})
            head = heads.fetchone()
            taken = pending.fetchall()
    except psycopg.Error as error:
        raise _reported(error, "open integration round") from None
    if head is None:  # tables made with create_all rather than the migration: make the head, then lock it
        repository.read_head()
        head = repository.lock_head()
    return head, sorted(taken, key=lambda row: int(row.id))


@cache
def _pipelined_reads(dialect: Dialect) -> tuple[str, str]:
    """The repository's head-lock and take-pending statements as this dialect's text (psycopg's named
    placeholders), compiled once per engine: the same SQL whether or not it is pipelined."""
    lock = LOCK_HEAD.compile(dialect=dialect)
    take = TAKE_PENDING.compile(dialect=dialect)
    assert set(lock.params) == {"id_1"} and set(take.params) == {"limit"}, (lock.params, take.params)
    return str(lock), str(take)


def write_round(repository: Repository, writes: Writes) -> None:
    """Append the round's hashes and records and move the head (and keep the checkpoint), in the caller's
    transaction."""
    if not repository.is_postgres:
        repository.insert_hashes(writes.first_hash, writes.hashes)
        repository.insert_records(writes.first_sequence, [item.content for item in writes.entries])
        repository.move_head(writes.size, writes.root, writes.note, writes.frontier, kept_at=writes.kept_at)
        if writes.kept_at is not None:
            repository.insert_checkpoint(writes.size, writes.root, writes.note, writes.kept_at)
        return
    import psycopg

    driver = repository.driver()
    head = (writes.size, writes.root, writes.note, writes.frontier)
    try:
        with driver.pipeline(), driver.cursor() as cursor:
            if writes.hashes:
                cursor.execute(_HASHES, (writes.first_hash, b"".join(writes.hashes), len(writes.hashes)))
            if writes.entries:
                records = "[" + ",".join(item.row_json for item in writes.entries) + "]"
                cursor.execute(_RECORDS, (writes.first_sequence, records))
            if writes.kept_at is None:
                cursor.execute(_MOVE.format("kept_at"), (*head, TREE_HEAD_ID))
            else:
                cursor.execute(_MOVE.format("%s"), (*head, writes.kept_at, TREE_HEAD_ID))
                cursor.execute(_KEEP, (writes.size, writes.root, writes.note, writes.kept_at))
    except psycopg.Error as error:
        raise _reported(error, "write integration round") from None


def _reported(error: Exception, what: str) -> DBAPIError:
    """A driver error as SQLAlchemy reports one, which is what the store's retry and outage rules read: an
    IntegrityError (a concurrent delivery of the same event committed first: answer it as a duplicate),
    an OperationalError (the database is unreachable: 503), and so on."""
    import psycopg

    reported = DBAPIError.instance(what, None, error, psycopg.Error)
    assert isinstance(reported, DBAPIError)  # always, for an error of the driver's own hierarchy
    return reported
