"""Audit transparency log benchmark on PostgreSQL: records/s integrated with 8 concurrent HTTP senders, and
the latency of inclusion and consistency proofs at the size the log has reached. Prints numbers; not a test.

    .venv/bin/python -m bench.audit [--prefill 1000000] [--seconds 20] [--connections 8] [--batch 100]

--prefill first fills the log to that size through the integrator itself (records inserted as pending,
integrated 5000 per round, as a backlog would be), so proofs are measured on a big tree. Then the audit
function runs under functions-framework (gunicorn, THREADS=10 as on Knative) with a signing key, and wrk
posts audit events from --connections connections: one per request (binary mode, as a KafkaSource
delivers), or with --batch N a CloudEvents batch of N per request (application/cloudevents-batch+json,
handled in one transaction and one integration round). Every 2xx means its records were integrated and
signed, and the rate is the growth of the signed tree over the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert, text

from bench.cold_start import BIN, ROOT
from bench.runtime_overhead import LUA, _parse_wrk
from functions.audit import note
from functions.audit.canonical import canonical_json
from functions.audit.checkpoints import Signing
from functions.audit.integrator import integrate
from functions.audit.leaves import NewRecord
from functions.audit.repository import PENDING, Repository
from paymesh.local.ports import free_port, ready
from paymesh.samples import body_template
from shared.store import Store

PG_URL = os.environ.get("PAYMESH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MIGRATIONS = ROOT / "functions" / "audit" / "migrations"
START = datetime(2026, 1, 1, tzinfo=UTC)
# A CloudEvents batch of `size` copies of `template`, each with its own id ({n}).
BATCH_LUA = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  prefix = tostring(tid) .. "_" .. tostring(os.time())
end
counter = 0
request = function()
  local items = {}
  for i = 1, size do
    counter = counter + 1
    local n = prefix .. "_" .. tostring(counter)
    items[i] = string.gsub(template, "{n}", n)
  end
  return wrk.format("POST", "/", nil, "[" .. table.concat(items, ",") .. "]")
end
"""


def prefill(store: Store, signing: Signing, count: int, batch: int = 5000) -> float:
    """Fill the log with `count` records through the integrator; answer records/s."""
    started = time.perf_counter()
    for first in range(0, count, batch):
        now = datetime.now(UTC)
        rows = []
        for n in range(first, min(count, first + batch)):
            details = {"customerId": f"cus_{n % 5000}", "amount": f"{n % 900 + 1}.25", "currency": "EUR"}
            rows.append(NewRecord(
                event_source="/bench", event_id=f"pre-{n}", event_type="audit.payment-events", service="payments",
                action="payment.captured", outcome="success", actor="system", subject=f"pay_{n}",
                correlation_id=f"corr_{n // 10}", customer_id=details["customerId"],
                occurred_at=START + timedelta(seconds=30 * n), recorded_at=now,
                data=canonical_json({"service": "payments", "action": "payment.captured", "details": details,
                                     "subject": f"pay_{n}"})).values())
        with store.session() as session:
            session.execute(insert(PENDING), rows)
            integrate(Repository(session), signing, now, limit=batch)
        if first and first % 100_000 == 0:
            print(f"  prefilled {first:,} ({first / (time.perf_counter() - started):,.0f} records/s)", flush=True)
    return count / (time.perf_counter() - started)


def tree_size(client: httpx.Client, verifier: note.Verifier) -> tuple[int, bytes]:
    _, size, root = note.parse_checkpoint(note.open_note(client.get("/checkpoint").content, [verifier]))
    return size, root


def proof_latency(client: httpx.Client, verifier: note.Verifier, samples: int) -> dict[str, float]:
    size, _ = tree_size(client, verifier)
    inclusion, consistency = [], []
    for _ in range(samples):
        index = random.randrange(size)
        started = time.perf_counter()
        body = client.get("/proof/inclusion", params={"index": index, "size": size}).json()
        inclusion.append((time.perf_counter() - started) * 1000)
        assert body["size"] == size and len(body["hashes"]) <= 64
        old = random.randrange(1, size + 1)
        started = time.perf_counter()
        body = client.get("/proof/consistency", params={"from": old, "size": size}).json()
        consistency.append((time.perf_counter() - started) * 1000)
        assert body["from"] == old and len(body["hashes"]) <= 128
    inclusion.sort()
    consistency.sort()
    return {"size": size, "inclusion_p50_ms": statistics.median(inclusion),
            "inclusion_p99_ms": inclusion[max(0, int(len(inclusion) * 0.99) - 1)],
            "consistency_p50_ms": statistics.median(consistency),
            "consistency_p99_ms": consistency[max(0, int(len(consistency) * 0.99) - 1)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefill", type=int, default=0, help="records to put in the log first")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1, help="events per request (>1: a CloudEvents batch)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (Knative: replicas)")
    parser.add_argument("--samples", type=int, default=500, help="proofs per latency measurement")
    parser.add_argument("--url", default=PG_URL)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark schema")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    signer_key, verifier_key = note.generate_key("bench.audit")
    verifier = note.Verifier(verifier_key)
    store = Store(options.url, function="audit", schema=schema, migrations=MIGRATIONS)
    store.migrate()
    port = free_port()
    server: subprocess.Popen[bytes] | None = None
    results: dict[str, float] = {}
    try:
        if options.prefill:
            rate = prefill(store, Signing(signer_key), options.prefill)
            print(f"prefill through the integrator (5000 per round): {options.prefill:,} records, "
                  f"{rate:,.0f} records/s")
            # The prefill leaves a million dead rows in the pending queue: vacuum as autovacuum soon would.
            vacuum = create_engine(options.url, isolation_level="AUTOCOMMIT")
            with vacuum.connect() as connection:
                connection.execute(text(f'VACUUM ANALYZE "{schema}".audit_pending, "{schema}".audit_tree_head'))
                connection.execute(text(f'ANALYZE "{schema}".audit_records, "{schema}".audit_tree_hashes'))
            vacuum.dispose()
        store.dispose()
        event_type, template = body_template("audit")
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "PAYMESH_HOME": home, "PAYMESH_LOG_LEVEL": "WARNING", "DATABASE_URL": options.url,
                   "PAYMESH_DB_SCHEMA": schema, "PAYMESH_AUDIT_SIGNING_KEY": signer_key, "PAYMESH_PUBLISHER": "log",
                   "THREADS": "10", "WORKERS": str(options.workers)}
            server = subprocess.Popen(
                [str(BIN / "functions-framework"), "--source", str(ROOT / "functions" / "audit" / "main.py"),
                 "--target", "handle", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            deadline = time.time() + 60
            while not ready(f"http://127.0.0.1:{port}/ready"):
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("the audit function did not become ready")
                time.sleep(0.05)
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
            before, _ = tree_size(client, verifier)
            script = Path(home) / "load.lua"
            if options.batch > 1:
                item = json.dumps({"specversion": "1.0", "id": "bench-{n}", "source": "/bench", "type": event_type,
                                   "datacontenttype": "application/json", "data": "@DATA@"})
                item = item.replace('"@DATA@"', template)
                script.write_text(f"template = {json.dumps(item)}\nsize = {options.batch}\n" + BATCH_LUA)
                headers = ["-H", "Content-Type: application/cloudevents-batch+json"]
            else:
                script.write_text(f"template = {json.dumps(template)}\n" + LUA)
                headers = ["-H", "ce-specversion: 1.0", "-H", "ce-source: /bench", "-H", f"ce-type: {event_type}",
                           "-H", "Content-Type: application/json"]
            command = ["wrk", "-t2", f"-c{options.connections}", f"-d{options.seconds}s", "--latency", "-s",
                       str(script), *headers, f"http://127.0.0.1:{port}/"]
            started = time.perf_counter()
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            elapsed = time.perf_counter() - started
            after, _ = tree_size(client, verifier)
            wrk = _parse_wrk(output)
            results = {"integrated": after - before, "records_per_second": (after - before) / elapsed,
                       "http_2xx_per_second": wrk["rps"], "non_2xx": wrk["non_2xx"], "p50_ms": wrk["p50_ms"],
                       "p99_ms": wrk["p99_ms"]}
            results["events_per_request"] = options.batch
            results["workers"] = options.workers
            shape = "one event per request" if options.batch == 1 else f"batches of {options.batch} events"
            print(f"ingest, {options.connections} HTTP senders, {shape}, {options.workers} worker(s): "
                  f"{results['records_per_second']:,.0f} records/s integrated and signed "
                  f"(p50 {wrk['p50_ms']:.1f} ms, p99 {wrk['p99_ms']:.1f} ms, non-2xx {wrk['non_2xx']:.0f})")
            latency = proof_latency(client, verifier, options.samples)
            results.update(latency)
            print(f"proofs at {latency['size']:,} records: inclusion p50 {latency['inclusion_p50_ms']:.2f} ms, "
                  f"p99 {latency['inclusion_p99_ms']:.2f} ms; consistency p50 {latency['consistency_p50_ms']:.2f} ms,"
                  f" p99 {latency['consistency_p99_ms']:.2f} ms (HTTP, {options.samples} samples)")
            out = ROOT / "bench" / "results"
            out.mkdir(exist_ok=True)
            name = "audit.json" if options.batch == 1 else f"audit_batch{options.batch}.json"
            (out / name).write_text(json.dumps(results, indent=2))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        store.dispose()
        if not options.keep:
            engine = create_engine(options.url)
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()


if __name__ == "__main__":
    main()
