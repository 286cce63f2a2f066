"""Migration 0002: records of the hash-chain log become the first leaves of the tree, in sequence order."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from functions.audit.app import AuditSettings, build_spec
from functions.audit.leaves import record_id
from shared.publish import MemoryPublisher
from shared.store import Store
from tests.audit.helpers import SIGNER_KEY, Audit
from tests.support import PG_URL, build_app, flask_client, reply_json

MIGRATIONS = Path(__file__).resolve().parents[2] / "functions" / "audit" / "migrations"


def upgrade(store: Store, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        if store.is_postgres:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{store.schema}"'))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def store_at_0001(backend: str, tmp_path: Path) -> Iterator[Store]:
    if backend == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'audit.db'}", function="audit", migrations=MIGRATIONS)
    else:
        store = Store(PG_URL, function="audit", schema=f"t_audit_{uuid.uuid4().hex[:10]}", migrations=MIGRATIONS)
    upgrade(store, "0001")
    try:
        yield store
    finally:
        store.dispose()
        if backend == "postgres":
            engine = create_engine(PG_URL)
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{store.schema}" CASCADE'))
            engine.dispose()


def test_existing_records_become_the_first_leaves_in_sequence_order(backend: str, tmp_path: Path) -> None:
    with store_at_0001(backend, tmp_path) as store:
        # An old log whose sequences 1-2 were purged (chain base 2) and 4 is a tombstone.
        with store.engine.begin() as connection:
            for sequence in (3, 5, 6):
                connection.execute(text(
                    "INSERT INTO audit_records (sequence, record_id, event_source, event_id, event_type, service,"
                    " action, outcome, actor, subject, correlation_id, customer_id, occurred_at, recorded_at, data,"
                    " prev_hash, hash) VALUES (:s, :r, '/old', :e, 'audit.payment-events', 'payments',"
                    " 'payment.captured', 'success', 'system', :subject, 'c', NULL, :t, :t, :data, :p, :h)"),
                    {"s": sequence, "r": record_id("/old", f"e{sequence}"), "e": f"e{sequence}",
                     "subject": f"old_{sequence}", "t": datetime(2026, 1, 1, 0, sequence, tzinfo=UTC),
                     "data": '{"n":1}', "p": "0" * 64, "h": "1" * 64})
        upgrade(store, "head")
        config = AuditSettings(audit_signing_key=SIGNER_KEY)
        publisher = MemoryPublisher()
        audit = Audit(store, flask_client(build_app(build_spec(config), store, config, publisher)), publisher, config)
        items = reply_json(audit.get("/events"))["items"]
        assert [(item["subject"], item["sequence"], item["leafIndex"]) for item in items] == [
            ("old_3", 1, 0), ("old_5", 2, 1), ("old_6", 3, 2)]
        assert audit.post(subject="new").status_code == 204  # the first integration signs a checkpoint
        assert reply_json(audit.get("/verify")) == {**reply_json(audit.get("/verify")), "ok": True, "count": 4}
        assert audit.get("/checkpoint").data.startswith(b"audit.test\n4\n")
