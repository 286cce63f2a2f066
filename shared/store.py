"""SQLModel stores: one per function, SQLite by default, PostgreSQL in production.

On PostgreSQL each function keeps its tables in its own schema (default: the function's name), so
several functions can share one database without reading each other's tables. On SQLite every
transaction starts with BEGIN IMMEDIATE, which serializes writers instead of failing them late.
"""

from __future__ import annotations

import ast
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, create_engine

from shared.config import RuntimeSettings
from shared.errors import TransientError
from shared.group_commit import CommitGroups

T = TypeVar("T")

# SQLSTATEs worth running the whole transaction again for.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
MAX_CONFLICT_RETRIES = 8


def default_url(settings: RuntimeSettings, function: str) -> str:
    if settings.database_url:
        return settings.database_url
    settings.home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(settings.home / f'{function}.db').resolve()}"


def is_conflict(error: BaseException) -> bool:
    """A concurrency conflict that a fresh attempt of the same transaction can get past."""
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


def is_unavailable(error: BaseException) -> bool:
    """The database cannot be reached or is shutting down: a transient failure."""
    if isinstance(error, PoolTimeout):
        return True
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated) or isinstance(error, OperationalError)
    return False


class Store:
    def __init__(self, url: str, *, function: str, schema: str | None = None,
                 migrations: Path | None = None) -> None:
        parsed = make_url(url)
        self.url = url
        self.function = function
        self.migrations = migrations
        self.is_postgres = parsed.get_backend_name() == "postgresql"
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.schema = (schema or function) if self.is_postgres else None
        self.engine = self._create_engine(url)
        # SQLite takes one writer at a time; queueing threads here is fairer and far faster than
        # SQLite's busy handler, which sleeps up to 100 ms between tries.
        self._sqlite_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None
        # SQLite: transactions waiting for the writer lock share one commit (shared/group_commit.py).
        self._groups = CommitGroups(self.engine, self._sqlite_lock) if self._sqlite_lock is not None else None

    @classmethod
    def from_settings(cls, settings: RuntimeSettings, function: str, migrations: Path | None) -> Store:
        return cls(default_url(settings, function), function=function, schema=settings.db_schema,
                   migrations=migrations)

    def _create_engine(self, url: str) -> Engine:
        if self.is_sqlite:
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_begin_immediate)
            return engine
        connect_args: dict[str, Any] = {"connect_timeout": 5}
        if self.is_postgres and self.schema:
            connect_args["options"] = f"-csearch_path={self.schema}"
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=10,
                             connect_args=connect_args)

    def migrate(self) -> None:
        """Bring this function's tables to the newest Alembic revision.

        When the stored revision already is the newest one (every start but the first after an upgrade) this
        costs one query and never imports Alembic, which is a tenth of a cold start.
        """
        if self.migrations is None:
            return
        head = head_revision(self.migrations)
        if head is not None and self._stored_revision() == head:
            self.engine.dispose()
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(self.migrations))
        with self.engine.begin() as connection:
            if self.is_postgres and self.schema:
                # Serialize concurrent start-ups of the same function on one database.
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                                   {"name": f"paymesh-migrate-{self.schema}"})
                connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        # Connections opened before gunicorn forks must not be shared with the worker.
        self.engine.dispose()

    def _stored_revision(self) -> str | None:
        try:
            with self.engine.connect() as connection:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
        except DBAPIError:
            return None  # no version table yet (or no database): let Alembic create it

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work commits on leaving the block and rolls back on an exception."""
        with self._sqlite_lock or nullcontext(), Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def run(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction, retrying concurrency conflicts; outages become TransientError."""
        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            try:
                if self._groups is not None:
                    return self._groups.run(work)
                with self.session() as session:
                    return work(session)
            except DBAPIError as error:
                if is_conflict(error) and attempt < MAX_CONFLICT_RETRIES:
                    time.sleep(min(0.002 * 2**attempt, 0.1))
                    continue
                if is_conflict(error) or is_unavailable(error):
                    raise TransientError(f"database: {type(error.orig).__name__}") from error
                raise
            except PoolTimeout as error:
                raise TransientError("database: no connection available") from error
        raise AssertionError("unreachable")

    def commit_each_alone(self) -> None:
        """For work that commits by itself part-way (and so cannot share a transaction): no group commit."""
        self._groups = None

    def dispose(self) -> None:
        self.engine.dispose()


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def head_revision(migrations: Path) -> str | None:
    """The single head of the revisions in `migrations/versions`, read from their `revision` and `down_revision`
    lines without importing Alembic; None when it cannot be told (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations / "versions").glob("*.py"):
        found = {name: value for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8"))}
        try:
            revision = ast.literal_eval(found["revision"].strip())
            down = ast.literal_eval(found.get("down_revision", "None").strip())
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        parents.update([down] if isinstance(down, str) else list(down or ()))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite driver would defer it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed (and so acknowledged) transaction survives a power loss, not only a process crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
