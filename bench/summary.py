"""The issue-15 table from one `make bench` run: every row a ratio against a reference measured in the same
run, the machine it ran on, and bench/results/summary.json.

    .venv/bin/python -m bench.summary        (reads the other benchmarks' bench/results/*.json)
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
FSYNC_COMMITS = 30


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sqlite_commit_ms() -> float:
    """Median time of one SQLite commit with WAL and synchronous=FULL (what paymesh uses) in the temp folder:
    the fsync that bounds a SQLite function at concurrency / commit time."""
    with tempfile.TemporaryDirectory() as folder:
        connection = sqlite3.connect(Path(folder) / "fsync.db", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE t (n INTEGER)")
        samples = []
        for n in range(FSYNC_COMMITS):
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO t VALUES (?)", (n,))
            connection.execute("COMMIT")
            samples.append(time.perf_counter() - started)
        connection.close()
    return statistics.median(samples) * 1000


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2), "sqlite_commit_ms": round(sqlite_commit_ms(), 2)}


def _load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def rows() -> list[tuple[str, str, str]]:
    """(measure, result, goal)."""
    table: list[tuple[str, str, str]] = []
    runtime = _load("runtime_overhead")
    empty = runtime.get("empty", {}).get("rps")
    if empty:
        for name in ("payments", "ledger", "audit"):
            row = runtime.get(name)
            if row:
                table.append((f"{name} req/s vs the empty function",
                              f"{row['rps'] / empty:.2f}x ({row['rps']:.0f}/{empty:.0f}, non-2xx {row['non_2xx']:.0f})",
                              ">= 0.5, all 2xx"))
        if "noop" in runtime:
            table.append(("no-op behind shared.runtime vs the empty function",
                          f"{runtime['noop']['rps'] / empty:.2f}x", ">= 0.8"))
    ledger = _load("ledger")
    if ledger:
        table.append(("ledger service layer vs plain psycopg (PostgreSQL)", f"{ledger['ratio']:.2f}x", ">= 0.5"))
    measured = _load("end_to_end").get("measured")
    if measured:
        lost = measured["failed"] + measured["unfinished"]
        table.append(("end to end: flows/s (KafkaJS producer -> ledger)",
                      f"{measured['flows_per_s']:.0f} at {measured['target_rate']:.0f} offered, lost {lost}",
                      ">= 300, none lost"))
        table.append(("end to end: p99 produce -> balance-updated", f"{measured['p99_ms']:.0f} ms", "<= 250 ms"))
    single, batched = _load("audit"), _load("audit_batch100")
    if single or batched:
        shapes = []
        if batched:
            workers = batched.get("workers", 1)
            shapes.append(f"{batched['records_per_second']:,.0f} in batches of 100 ({workers} workers)")
        if single:
            shapes.append(f"{single['records_per_second']:,.0f} one per request")
        table.append(("audit: records/s integrated, 8 HTTP senders (PostgreSQL)", "; ".join(shapes), ">= 5,000"))
        proofs = batched or single
        table.append((f"audit: inclusion proof at {proofs['size']:,} records",
                      f"p50 {proofs['inclusion_p50_ms']:.1f} ms, p99 {proofs['inclusion_p99_ms']:.1f} ms", "O(log n)"))
    cold = _load("cold_start")
    base = cold.get("empty", {}).get("median_s")
    if base:
        ratios = ", ".join(f"{name} {cold[name]['median_s'] / base:.2f}x"
                           for name in ("payments", "ledger", "notifications", "audit") if name in cold)
        table.append(("cold start to first /ready 200 vs the empty function", ratios, "<= 2.0x each"))
    return table


def main() -> None:
    host = machine()
    print(f"\nmachine: {host['cores']} cores, {host['cpu_model']}, Python {host['python']}, "
          f"load {host['load_average_1m']}, one SQLite FULL commit {host['sqlite_commit_ms']} ms")
    table = rows()
    width = max((len(measure) for measure, _, _ in table), default=10) + 2
    print(f"{'measure':<{width}}{'result':<57}goal")
    for measure, result, goal in table:
        print(f"{measure:<{width}}{result:<56} {goal}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(
        {"machine": host, "rows": [{"measure": m, "result": r, "goal": g} for m, r, g in table]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
