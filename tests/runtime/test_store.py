"""Stores, migrations and idempotency on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import Session

from shared.errors import TransientError
from shared.publish import MemoryPublisher
from shared.store import Store
from tests.support import PG_URL, build_app, flask_client, post_event, temporary_store
from tests.support import runtime_fixture as probe

MIGRATIONS = Path(__file__).parents[1] / "probe_migrations"
REQUESTED = "payments.payment-requested"


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Store]:
    with temporary_store(backend, "probe", MIGRATIONS, tmp_path) as created:
        yield created


def test_migrations_create_the_tables_and_are_repeatable(store: Store) -> None:
    store.migrate()  # a second start-up finds everything at head
    tables = set(inspect(store.engine).get_table_names())
    assert {"processed_events", "runtime_probe_rows", "alembic_version"} <= tables
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"


def test_postgres_store_keeps_its_tables_in_its_own_schema(postgres: None, tmp_path: Path) -> None:
    with temporary_store("postgres", "probe", MIGRATIONS, tmp_path) as one, \
            temporary_store("postgres", "probe", MIGRATIONS, tmp_path) as other:
        assert one.schema != other.schema
        flask_client(build_app(probe.spec(), one)).post("/")  # nothing written
        post_event(flask_client(build_app(probe.spec(), one)), REQUESTED, probe.payment())
        assert len(probe.rows(one)) == 1
        assert probe.rows(other) == []


def test_redelivery_on_each_backend_changes_nothing(store: Store) -> None:
    publisher = MemoryPublisher()
    client = flask_client(build_app(probe.spec(), store, publisher=publisher))
    replies = [post_event(client, REQUESTED, probe.payment(), event_id="evt-1", source="/s") for _ in range(3)]
    assert {reply.status_code for reply in replies} == {200}
    assert len({reply.data for reply in replies}) == 1
    assert len(probe.rows(store)) == 1
    assert len({event.id for event in publisher.events}) == 2


def test_concurrent_duplicate_deliveries_apply_once_and_answer_alike(store: Store) -> None:
    client_app = build_app(probe.spec(), store)

    def deliver(_: int) -> tuple[int, bytes]:
        response = post_event(flask_client(client_app), REQUESTED, probe.payment(), event_id="evt-race", source="/s")
        return response.status_code, response.data

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(deliver, range(12)))
    assert {status for status, _ in results} == {200}
    assert len({body for _, body in results}) == 1
    assert len(probe.rows(store)) == 1


def test_serialization_failures_are_retried_inside(postgres: None, tmp_path: Path) -> None:
    with temporary_store("postgres", "probe", MIGRATIONS, tmp_path) as store:
        with store.session() as session:
            session.exec(text("CREATE TABLE counter (n integer NOT NULL)"))  # type: ignore[call-overload]
            session.exec(text("INSERT INTO counter VALUES (0)"))  # type: ignore[call-overload]
        serializable = Store(PG_URL, function="probe", schema=store.schema)
        serializable.engine = serializable.engine.execution_options(isolation_level="SERIALIZABLE")
        both_read = threading.Barrier(2)
        attempts: list[int] = []

        def increment(session: Session) -> None:
            value = session.exec(text("SELECT n FROM counter")).scalar_one()  # type: ignore[call-overload]
            attempts.append(value)
            if len(attempts) <= 2:
                both_read.wait(timeout=10)  # make the first two attempts overlap
            session.exec(text("UPDATE counter SET n = :n").bindparams(n=value + 1))  # type: ignore[call-overload]

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda _: serializable.run(increment), range(2)))
        with store.session() as session:
            assert session.exec(text("SELECT n FROM counter")).scalar_one() == 2  # type: ignore[call-overload]
        assert len(attempts) >= 3  # one of the two was retried after a serialization failure
        serializable.dispose()


def test_unreachable_database_is_a_transient_error() -> None:
    down = Store("postgresql+psycopg://postgres@127.0.0.1:1/test", function="probe")
    with pytest.raises(TransientError):
        down.run(lambda session: session.exec(text("SELECT 1")))  # type: ignore[call-overload]
    assert down.ping() is False


def test_a_current_schema_starts_without_importing_alembic(tmp_path: Path) -> None:
    """Cold start: the second start of a function finds its revision current with one query."""
    script = (
        "import sys; from pathlib import Path; from shared.store import Store\n"
        f"store = Store('sqlite:///{tmp_path / 'p.db'}', function='payments',"
        " migrations=Path('functions/payments/migrations'))\n"
        "store.migrate()\n"
        "print('alembic' in sys.modules)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2]) for _ in range(2)]
    assert [run.stdout.strip() for run in runs] == ["True", "False"]


def test_sqlite_commits_are_durable_across_power_loss(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'd.db'}", function="probe")
    with store.engine.connect() as connection:
        # 2 = FULL: WAL with NORMAL may lose the last acknowledged commits on power loss.
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    store.dispose()
