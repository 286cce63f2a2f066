"""SQLite group commit: waiting transactions share one commit, each keeps its own outcome, and none is
answered before the commit that holds it."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlmodel import Session

from shared.store import Store

WAITERS = 6


def _store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'group.db'}", function="group")
    with store.engine.begin() as connection:
        connection.execute(text("CREATE TABLE items (name TEXT PRIMARY KEY)"))
    return store


def _committed_names(tmp_path: Path) -> set[str]:
    with sqlite3.connect(tmp_path / "group.db") as connection:
        return {row[0] for row in connection.execute("SELECT name FROM items")}


def _insert(name: str, fail: bool = False) -> object:
    def work(session: Session) -> str:
        session.execute(text("INSERT INTO items VALUES (:name)"), {"name": name})
        if fail:
            raise ValueError(f"{name} refused")
        return name
    return work


def test_waiting_transactions_share_one_commit_and_fail_alone(tmp_path: Path) -> None:
    store = _store(tmp_path)
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _connection: commits.append(1))
    release = threading.Event()
    groups = store._groups
    assert groups is not None

    def first(session: Session) -> str:
        session.execute(text("INSERT INTO items VALUES ('first')"))
        release.wait(10)
        return "first"

    with ThreadPoolExecutor(WAITERS + 1) as pool:
        leader = pool.submit(store.run, first)
        while groups.queued() != 0:  # the leader took its own unit
            time.sleep(0.001)
        names = [f"n{index}" for index in range(WAITERS)]
        waiting = [pool.submit(store.run, _insert(name, fail=name == "n3")) for name in names]  # type: ignore[arg-type]
        deadline = time.monotonic() + 10
        while groups.queued() < WAITERS and time.monotonic() < deadline:
            time.sleep(0.001)
        release.set()
        assert leader.result() == "first"
        for name, future in zip(names, waiting, strict=True):
            if name == "n3":
                with pytest.raises(ValueError, match="n3 refused"):
                    future.result()
            else:
                assert future.result() == name
                assert name in _committed_names(tmp_path)  # answered only once committed
    assert len(commits) == 2  # the leader's own, then one for all six that queued behind it
    assert _committed_names(tmp_path) == {"first", "n0", "n1", "n2", "n4", "n5"}


def test_a_failed_commit_fails_every_transaction_of_the_group(tmp_path: Path) -> None:
    store = _store(tmp_path)

    def refuse_commit(_connection: object) -> None:
        raise RuntimeError("disk gone")

    event.listen(store.engine, "commit", refuse_commit)
    with pytest.raises(RuntimeError, match="disk gone"):
        store.run(_insert("lost"))  # type: ignore[arg-type]
    event.remove(store.engine, "commit", refuse_commit)
    assert _committed_names(tmp_path) == set()
    assert store.run(_insert("kept")) == "kept"  # type: ignore[arg-type]
    assert _committed_names(tmp_path) == {"kept"}
