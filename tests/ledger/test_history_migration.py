"""Migration 0002 backfills the point-in-time history of a ledger written before it existed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from functions.ledger.app import build_spec
from functions.ledger.settings import LedgerSettings
from shared.publish import MemoryPublisher
from shared.store import Store
from tests.ledger.invariants import check
from tests.support import PG_URL, build_app, flask_client, post_event, reply_json


def day(number: int, month: int = 1) -> datetime:
    return datetime(2026, month, number, tzinfo=UTC)


# (id, status, effective, created, resolved, minor): assets:cash debit / equity:owner credit.
TRANSACTIONS = [
    ("direct", "posted", day(10), day(1, 2), day(1, 2), 100),
    ("held", "pending", day(12), day(2, 2), None, 5),
    ("held_then_posted", "posted", day(14), day(3, 2), day(4, 2), 7),
    ("held_then_voided", "voided", day(16), day(5, 2), day(6, 2), 3),
]


def write_version_0001_rows(connection: sa.Connection) -> None:
    meta = sa.MetaData()
    meta.reflect(connection)
    tables = meta.tables
    connection.execute(tables["ledger_accounts"].insert(), [
        {"name": name, "type": kind, "debits_must_not_exceed_credits": False, "credits_must_not_exceed_debits": False,
         "metadata_json": "{}", "created_at": day(1)} for name, kind in (("assets:cash", "asset"),
                                                                          ("equity:owner", "equity"))])
    totals = {"posted": 0, "pending": 0}
    for transaction_id, status, effective, created, resolved, minor in TRANSACTIONS:
        connection.execute(tables["ledger_transactions"].insert().values(
            id=transaction_id, status=status, metadata_json="{}", fingerprint="0" * 64, effective_at=effective,
            created_at=created, resolved_at=resolved))
        connection.execute(tables["ledger_postings"].insert(), [
            {"transaction_id": transaction_id, "account": account, "direction": direction, "amount_minor": minor,
             "currency": "EUR"} for account, direction in (("assets:cash", "debit"), ("equity:owner", "credit"))])
        if status == "posted":
            totals["posted"] += minor
            connection.execute(tables["ledger_entries"].insert(), [
                {"account": account, "currency": "EUR", "transaction_id": transaction_id,
                 "amount_minor": sign * minor, "balance_after_minor": sign * totals["posted"], "posted_at": resolved}
                for account, sign in (("assets:cash", 1), ("equity:owner", -1))])
        elif status == "pending":
            totals["pending"] += minor
    connection.execute(tables["ledger_balances"].insert(), [
        {"account": "assets:cash", "currency": "EUR", "posted_debits": totals["posted"], "posted_credits": 0,
         "pending_debits": totals["pending"], "pending_credits": 0},
        {"account": "equity:owner", "currency": "EUR", "posted_debits": 0, "posted_credits": totals["posted"],
         "pending_debits": 0, "pending_credits": totals["pending"]}])


def test_backfill_replays_history_in_effective_order(backend: str, tmp_path: Path) -> None:
    settings = LedgerSettings()
    spec = build_spec(settings)
    schema = f"t_ledger_{uuid.uuid4().hex[:10]}"
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if backend == "sqlite" else PG_URL
    store = Store(url, function="ledger", schema=schema, migrations=spec.migrations)
    try:
        config = Config()
        config.set_main_option("script_location", str(spec.migrations))
        with store.engine.begin() as connection:
            if store.is_postgres:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            write_version_0001_rows(connection)
        store.migrate()
        check(store)
        client = flask_client(build_app(spec, store, settings, MemoryPublisher()))

        def cash_at(at: str) -> list[dict[str, str]]:
            body = reply_json(client.get(f"/accounts/assets:cash/balances?at={at}"))
            return [{key: item[key] for key in ("posted", "pending")} for item in body["balances"]]

        assert cash_at("2026-01-09T00:00:00Z") == []
        assert cash_at("2026-01-10T00:00:00Z") == [{"posted": "1.00", "pending": "1.00"}]
        assert cash_at("2026-01-13T00:00:00Z") == [{"posted": "1.00", "pending": "1.05"}]
        assert cash_at("2026-01-17T00:00:00Z") == [{"posted": "1.00", "pending": "1.15"}]
        assert cash_at("2026-02-04T00:00:00Z") == [{"posted": "1.07", "pending": "1.15"}]
        assert cash_at("2026-02-06T00:00:00Z") == [{"posted": "1.07", "pending": "1.12"}]
        entries = reply_json(client.get("/accounts/assets:cash/entries"))["entries"]
        assert [entry["effectiveAt"] for entry in entries] == ["2026-01-10T00:00:00+00:00",
                                                              "2026-02-04T00:00:00+00:00"]
        # New writes, backdated among the migrated history, keep it right.
        late = {"transactionId": "late", "effectiveAt": "2026-01-11T00:00:00Z", "postings": [
            {"account": "assets:cash", "direction": "debit", "amount": "0.50", "currency": "EUR"},
            {"account": "equity:owner", "direction": "credit", "amount": "0.50", "currency": "EUR"}]}
        assert post_event(client, "ledger.transaction-requested", late).status_code == 200
        assert cash_at("2026-01-13T00:00:00Z") == [{"posted": "1.50", "pending": "1.55"}]
        check(store)
    finally:
        store.dispose()
        if backend == "postgres":
            engine = create_engine(PG_URL)
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()
