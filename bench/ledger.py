"""Ledger write throughput on PostgreSQL: the service layer against plain psycopg.

Both sides write the same rows in the same transaction shape for a two-posting transaction (accounts
upserted, balance rows upserted and locked in order, balances updated, one transaction row, two
postings, two statement entries, two point-in-time history rows), single-threaded, one commit per
transaction. The ratio is what SQLModel/SQLAlchemy and the ledger's checks cost over hand-written SQL.

Then point-in-time balances: the latency of `balances?at=` (repository.balances_at) at random instants of an
account with a small and a large history (seeded in bulk), and what a transaction costs when it lands last
in effective order, a minute before the latest change, or a day before it (the rows it lands before are
updated).

    .venv/bin/python -m bench.ledger [--seconds 10] [--histories 1000,200000]
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text

from functions.ledger import repository
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
    "update": "UPDATE ledger_balances SET posted_debits = %s, posted_credits = %s, effective_through = %s"
              " WHERE account = %s AND currency = %s",
    "history": "INSERT INTO ledger_balance_history (account, currency, effective_at, transaction_id, posted_debits,"
               " posted_credits, pending_debits, pending_credits) VALUES (%s, %s, %s, %s, %s, %s, 0, 0)",
    "transaction": "INSERT INTO ledger_transactions (id, status, metadata_json, fingerprint, effective_at, created_at,"
                   " resolved_at) VALUES (%s, 'posted', '{}', %s, %s, %s, %s)",
    "posting": "INSERT INTO ledger_postings (transaction_id, account, direction, amount_minor, currency)"
               " VALUES (%s, %s, %s, %s, %s)",
    "entry": "INSERT INTO ledger_entries (account, currency, transaction_id, amount_minor, balance_after_minor,"
             " posted_at, effective_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
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
                cursor.execute(PLAIN_STATEMENTS["update"], (debits, credits, now, leg.account, leg.currency))
                cursor.execute(PLAIN_STATEMENTS["history"], (leg.account, leg.currency, now, transaction_id,
                                                             debits, credits))
                cursor.execute(PLAIN_STATEMENTS["entry"], (leg.account, leg.currency, transaction_id, leg.signed,
                                                           debits - credits, now, now))
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

HISTORY_START = datetime(2020, 1, 1, tzinfo=UTC)
SEED_HISTORY = {
    "account": "INSERT INTO ledger_accounts VALUES (:name, 'asset', false, false, '{}', now())",
    "balance": "INSERT INTO ledger_balances VALUES (:name, 'EUR', :size * 100, 0, 0, 0, :through)",
    "history": "INSERT INTO ledger_balance_history (account, currency, effective_at, transaction_id, posted_debits,"
               " posted_credits, pending_debits, pending_credits) SELECT :name, 'EUR', :start + g * interval"
               " '1 minute', 'seed-' || g, g * 100, 0, 0, 0 FROM generate_series(1, :size) g",
}


def seed_history(store: Store, name: str, size: int) -> datetime:
    """One change a minute for `size` minutes, written in bulk; answers the latest effective time."""
    through = HISTORY_START + timedelta(minutes=size)
    with store.engine.begin() as connection:
        for statement in SEED_HISTORY.values():
            connection.execute(text(statement), {"name": name, "size": size, "through": through,
                                                 "start": HISTORY_START})
        connection.execute(text("ANALYZE ledger_balance_history"))
    return through


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def point_in_time(store: Store, size: int, queries: int = 300, writes: int = 30) -> dict[str, float]:
    name = f"assets:history_{size}"
    latest = seed_history(store, name, size)
    rng = random.Random(size)
    reads = []
    with store.session() as session:
        for _ in range(queries):
            at = HISTORY_START + timedelta(seconds=rng.randrange(size * 60))
            started = time.perf_counter()
            repository.balances_at(session, name, at)
            reads.append(time.perf_counter() - started)

    def write(transaction_id: str, effective_at: datetime) -> float:
        legs = [Leg(name, "EUR", "debit", 100), Leg(f"equity:history_{size}", "EUR", "credit", 100)]
        started = time.perf_counter()
        store.run(lambda session: Ledger(session, DEFAULT_RULES, datetime.now(UTC)).create(  # type: ignore[arg-type]
            transaction_id, legs, effective_at=effective_at))
        return time.perf_counter() - started

    minute_late = [write(f"h{size}-minute-{n}", latest - timedelta(seconds=90)) for n in range(writes)]
    day_late = [write(f"h{size}-day-{n}", latest - timedelta(days=1)) for n in range(writes)]
    last = [write(f"h{size}-last-{n}", latest + timedelta(seconds=n + 1)) for n in range(writes)]
    return {"history_rows": size, "query_median_ms": round(median_ms(reads), 3),
            "query_p99_ms": round(sorted(reads)[int(len(reads) * 0.99)] * 1000, 3),
            "write_last_median_ms": round(median_ms(last), 3),
            "write_minute_late_median_ms": round(median_ms(minute_late), 3),
            "write_day_late_median_ms": round(median_ms(day_late), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--histories", default="1000,200000", help="history lengths for point-in-time queries")
    args = parser.parse_args()
    schema = f"bench_ledger_{uuid.uuid4().hex[:8]}"
    store = Store(args.url, function="ledger", schema=schema, migrations=MIGRATIONS)
    store.migrate()
    try:
        service, plain = interleaved(store, args.url.replace("postgresql+psycopg://", "postgresql://"), schema,
                                     args.seconds)
        histories = [point_in_time(store, int(size)) for size in args.histories.split(",")]
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
    print(f"\n{'point in time, one account (PostgreSQL), ms':<44}" + "".join(
        f"{item['history_rows']:>10} rows" for item in histories))
    for key, label in (("query_median_ms", "balances?at= median"), ("query_p99_ms", "balances?at= p99"),
                       ("write_last_median_ms", "transaction, last in effective order"),
                       ("write_minute_late_median_ms", "transaction, a minute late (1 row after)"),
                       ("write_day_late_median_ms", "transaction, a day late (the last day's rows after)")):
        print(f"{label:<44}" + "".join(f"{item[key]:>15.3f}" for item in histories))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger.json").write_text(json.dumps(
        {"service_tx_per_s": round(service, 1), "plain_tx_per_s": round(plain, 1),
         "ratio": round(service / plain, 3), "seconds": args.seconds, "point_in_time": histories},
        indent=2) + "\n")


if __name__ == "__main__":
    main()
