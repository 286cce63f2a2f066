"""Ledger write throughput on PostgreSQL: the service layer against plain psycopg.

Both sides write the same rows in the same transaction shape for a two-posting transaction (accounts
upserted, balance rows upserted and locked in order, balances updated, one transaction row, two
postings, two statement entries), single-threaded, one commit per transaction. The ratio is what
SQLModel/SQLAlchemy and the ledger's checks cost over hand-written SQL.

    .venv/bin/python -m bench.ledger [--seconds 10] [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text

from functions.ledger.accounts import DEFAULT_RULES
from functions.ledger.book import Ledger
from functions.ledger.double_entry import Leg
from shared.store import Store

MIGRATIONS = Path(__file__).resolve().parents[1] / "functions" / "ledger" / "migrations"
RESULTS = Path(__file__).resolve().parent / "results"
ACCOUNTS = 100


def legs(n: int) -> list[Leg]:
    return [Leg(f"assets:bench_{n % ACCOUNTS}", "EUR", "debit", 500),
            Leg(f"equity:bench_{n % ACCOUNTS}", "EUR", "credit", 500)]


def service_layer(store: Store, seconds: float, start: int = 0) -> int:
    done = start
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        n = done

        def work(session: object, n: int = n) -> None:
            Ledger(session, DEFAULT_RULES, datetime.now(UTC)).create(f"svc-{n}", legs(n))  # type: ignore[arg-type]

        store.run(work)
        done += 1
    return done - start


PLAIN_STATEMENTS = {
    "account": "INSERT INTO ledger_accounts (name, type, debits_must_not_exceed_credits,"
               " credits_must_not_exceed_debits, metadata_json, created_at)"
               " VALUES (%s, %s, false, false, '{}', %s) ON CONFLICT DO NOTHING",
    "balance": "INSERT INTO ledger_balances VALUES (%s, %s, 0, 0, 0, 0) ON CONFLICT DO NOTHING",
    "lock": "SELECT posted_debits, posted_credits FROM ledger_balances WHERE account = %s AND currency = %s FOR UPDATE",
    "update": "UPDATE ledger_balances SET posted_debits = %s, posted_credits = %s"
              " WHERE account = %s AND currency = %s",
    "transaction": "INSERT INTO ledger_transactions (id, status, metadata_json, fingerprint, effective_at, created_at,"
                   " resolved_at) VALUES (%s, 'posted', '{}', %s, %s, %s, %s)",
    "posting": "INSERT INTO ledger_postings (transaction_id, account, direction, amount_minor, currency)"
               " VALUES (%s, %s, %s, %s, %s)",
    "entry": "INSERT INTO ledger_entries (account, currency, transaction_id, amount_minor, balance_after_minor,"
             " posted_at) VALUES (%s, %s, %s, %s, %s, %s)",
}


def plain_psycopg(connection: psycopg.Connection[tuple[object, ...]], seconds: float, start: int = 0) -> int:
    done = start
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        now = datetime.now(UTC)
        transaction_id = f"raw-{done}"
        with connection.transaction(), connection.cursor() as cursor:
            for leg in legs(done):
                kind = "asset" if leg.account.startswith("assets:") else "equity"
                cursor.execute(PLAIN_STATEMENTS["account"], (leg.account, kind, now))
            for leg in sorted(legs(done)):
                cursor.execute(PLAIN_STATEMENTS["balance"], (leg.account, leg.currency))
            balances = {}
            for leg in sorted(legs(done)):
                cursor.execute(PLAIN_STATEMENTS["lock"], (leg.account, leg.currency))
                balances[leg.account] = list(cursor.fetchone() or (0, 0))
            for leg in legs(done):
                debits, credits = balances[leg.account]
                debits, credits = (debits + leg.minor, credits) if leg.direction == "debit" else \
                    (debits, credits + leg.minor)
                balances[leg.account] = [debits, credits]
                cursor.execute(PLAIN_STATEMENTS["update"], (debits, credits, leg.account, leg.currency))
                cursor.execute(PLAIN_STATEMENTS["entry"], (leg.account, leg.currency, transaction_id, leg.signed,
                                                           debits - credits, now))
            cursor.execute(PLAIN_STATEMENTS["transaction"], (transaction_id, "0" * 64, now, now, now))
            for leg in legs(done):
                cursor.execute(PLAIN_STATEMENTS["posting"], (transaction_id, leg.account, leg.direction,
                                                             leg.minor, leg.currency))
        done += 1
    return done - start


def interleaved(store: Store, dsn: str, schema: str, seconds: float) -> tuple[float, float]:
    """Both sides in alternating half-second slices, so a shared machine's changing load hits them alike."""
    service = plain = 0
    with psycopg.connect(dsn, options=f"-csearch_path={schema}") as connection:
        rounds = max(1, int(seconds / 0.5))
        for _ in range(rounds):
            service += service_layer(store, seconds / rounds / 2, service)
            plain += plain_psycopg(connection, seconds / rounds / 2, plain)
    return service / (seconds / 2), plain / (seconds / 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    schema = f"bench_ledger_{uuid.uuid4().hex[:8]}"
    store = Store(args.url, function="ledger", schema=schema, migrations=MIGRATIONS)
    store.migrate()
    try:
        service, plain = interleaved(store, args.url.replace("postgresql+psycopg://", "postgresql://"), schema,
                                     args.seconds)
    finally:
        store.dispose()
        engine = create_engine(args.url)
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
    print(f"{'two-posting transactions/s (PostgreSQL, 1 writer)':<52}{'tx/s':>10}")
    print(f"{'service layer (shared.store + functions.ledger)':<52}{service:>10.0f}")
    print(f"{'plain psycopg, same rows, same transaction shape':<52}{plain:>10.0f}")
    print(f"{'ratio service / plain':<52}{service / plain:>10.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger.json").write_text(json.dumps(
        {"service_tx_per_s": round(service, 1), "plain_tx_per_s": round(plain, 1),
         "ratio": round(service / plain, 3), "seconds": args.seconds}, indent=2) + "\n")


if __name__ == "__main__":
    main()
