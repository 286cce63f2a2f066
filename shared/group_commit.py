"""Group commit for SQLite: transactions that queue for the one writer lock share a commit (and its fsync).

With synchronous=FULL every commit waits for an fsync (~10 ms on a shared disk), and SQLite has one
writer, so committing each event alone caps a function at ~100 events/s whatever the CPU. Here the
thread that gets the lock runs every unit of work queued behind it, each in its own savepoint, in one
transaction, commits once, and only then hands each waiting thread its own result or error. Nothing is
answered before the commit that holds it, and a unit that fails rolls back to its savepoint alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

T = TypeVar("T")

# Bounds one commit's latency: units beyond this wait for the next group.
GROUP_UNITS_MAX = 64


class _Unit(Generic[T]):
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[Session], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class CommitGroups:
    def __init__(self, engine: Engine, writer_lock: threading.Lock) -> None:
        self._engine = engine
        self._writer_lock = writer_lock
        self._queue: list[_Unit[Any]] = []
        self._queue_lock = threading.Lock()

    def queued(self) -> int:
        """Units waiting for a commit group (not yet taken by a lock holder)."""
        with self._queue_lock:
            return len(self._queue)

    def run(self, work: Callable[[Session], T]) -> T:
        unit: _Unit[T] = _Unit(work)
        with self._queue_lock:
            self._queue.append(unit)
        with self._writer_lock:
            if not unit.done:
                with self._queue_lock:
                    group, self._queue = self._queue[:GROUP_UNITS_MAX], self._queue[GROUP_UNITS_MAX:]
                self._commit(group)
        if unit.error is not None:
            raise unit.error
        return unit.result  # type: ignore[return-value]

    def _commit(self, group: list[_Unit[Any]]) -> None:
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                try:
                    if len(group) == 1:
                        self._alone(session, group[0])
                    else:
                        for index, unit in enumerate(group):
                            if index:
                                session.expunge_all()  # each unit starts with an empty identity map, as alone
                            try:
                                with session.begin_nested():
                                    unit.result = unit.work(session)
                            except Exception as error:  # this unit's failure rolls back its savepoint alone
                                unit.error = error
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        except BaseException as error:
            # The shared transaction failed (commit, a broken connection): no unit in it was committed.
            for unit in group:
                if unit.error is None:
                    unit.result, unit.error = None, error
            if not isinstance(error, Exception):
                raise
        finally:
            for unit in group:
                unit.done = True

    @staticmethod
    def _alone(session: Session, unit: _Unit[Any]) -> None:
        # No savepoint needed: a failure rolls the whole (one-unit) transaction back.
        try:
            unit.result = unit.work(session)
        except Exception as error:
            session.rollback()
            unit.error = error
