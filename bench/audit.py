"""Audit log benchmark on PostgreSQL: ingest rate, p95 of a correlation-id query and of a time-range page,
and verify rate. Prints numbers; not a test.

    .venv/bin/python -m bench.audit --events 1000000

Ingest runs the handler's code path (scrub, append to the chain under the head lock, compliance rules,
idempotency record) from `--writers` threads, `--batch` events per transaction (one lock, one multi-row
insert per batch). The single-event transaction rate (what one HTTP delivery costs: the head lock
serializes writers) is measured on a short sample first.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from functions.audit import checkpoints
from functions.audit.handlers import Incoming, record_events
from functions.audit.records import Filters
from functions.audit.repository import Repository
from functions.audit.settings import AuditSettings
from shared.events import PaymentAuditEvent
from shared.idempotency import ProcessedEvent
from shared.store import Store

PG_URL = os.environ.get("PAYMESH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MIGRATIONS = Path(__file__).resolve().parents[1] / "functions" / "audit" / "migrations"
START = datetime(2026, 1, 1, tzinfo=UTC)
EVENT_SPACING = timedelta(seconds=30)
PER_CORRELATION = 10
PROCESSED = ProcessedEvent.__table__  # type: ignore[attr-defined]


def event(n: int) -> PaymentAuditEvent:
    failed = n % 17 == 0
    return PaymentAuditEvent(
        service="payments", action="payment.failed" if failed else "payment.captured",
        outcome="failure" if failed else "success", subject=f"pay_{n}", correlation_id=f"corr_{n // PER_CORRELATION}",
        occurred_at=START + n * EVENT_SPACING,
        details={"customerId": f"cus_{n % 5000}", "merchantId": "mer_bench", "amount": f"{n % 900 + 1}.25",
                 "currency": "EUR", **({"reason": "card_declined"} if failed else {})})


def ingest(store: Store, numbers: list[int], *, writers: int, batch: int) -> float:
    """Store events `numbers` from `writers` threads; answer events per second."""
    rules = AuditSettings().rule_settings()
    chunks = [numbers[index:index + batch] for index in range(0, len(numbers), batch)]
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not chunks:
                    return
                chunk = chunks.pop()
            now = datetime.now(UTC)
            items = [Incoming(event(n), "/bench", str(uuid.uuid5(uuid.NAMESPACE_OID, str(n))),
                              PaymentAuditEvent.type_name, f"corr_{n}") for n in chunk]
            with store.session() as session:
                record_events(Repository(session), items, now=now, settings=rules)
                # What the runtime's idempotency record costs, written the same way for the whole batch.
                session.connection().execute(insert(PROCESSED), [
                    {"source": item.event_source, "event_id": item.event_id, "event_type": item.event_type,
                     "outputs": "[]", "handled_at": now} for item in items])

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(numbers) / (time.perf_counter() - started)


def p95_ms(store: Store, samples: int, make_filters: Callable[[], Filters]) -> tuple[float, float]:
    timings = []
    for _ in range(samples):
        filters = make_filters()
        started = time.perf_counter()
        with store.session() as session:
            Repository(session).page(filters, None, 101)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return timings[int(len(timings) * 0.95) - 1], statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events to ingest (default 200000)")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=200, help="events per transaction in the bulk ingest")
    parser.add_argument("--samples", type=int, default=200, help="queries per latency measurement")
    parser.add_argument("--url", default=PG_URL)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark schema")
    options = parser.parse_args()

    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    store = Store(options.url, function="audit", schema=schema, migrations=MIGRATIONS)
    store.migrate()
    try:
        single = min(2000, options.events)
        single_rate = ingest(store, list(range(single)), writers=options.writers, batch=1)
        print(f"ingest, one event per transaction ({options.writers} writers): {single_rate:,.0f} events/s")
        bulk_rate = ingest(store, list(range(single, options.events)), writers=options.writers, batch=options.batch)
        print(f"ingest, {options.batch} events per transaction ({options.writers} writers): {bulk_rate:,.0f} events/s")
        with store.engine.begin() as connection:
            connection.execute(text("ANALYZE audit_records"))

        correlations = max(1, options.events // PER_CORRELATION)
        p95, median = p95_ms(store, options.samples,
                             lambda: Filters({"correlation_id": f"corr_{random.randrange(correlations)}"}))
        print(f"correlation-id query: p95 {p95:.2f} ms, median {median:.2f} ms ({options.samples} samples)")
        span = options.events * EVENT_SPACING

        def time_range() -> Filters:
            start = START + random.random() * span
            return Filters({}, start, start + timedelta(hours=6))

        p95, median = p95_ms(store, options.samples, time_range)
        print(f"time-range page (100 rows): p95 {p95:.2f} ms, median {median:.2f} ms ({options.samples} samples)")

        started = time.perf_counter()
        with store.session() as session:
            result = checkpoints.verify_log(Repository(session), None)
        elapsed = time.perf_counter() - started
        print(f"verify: {result.count:,} records in {elapsed:.1f} s = {result.count / elapsed:,.0f} events/s "
              f"(ok={result.ok})")
    finally:
        store.dispose()
        if not options.keep:
            engine = create_engine(options.url)
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()


if __name__ == "__main__":
    main()
