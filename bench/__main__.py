"""`make bench`: every benchmark in turn, each printing its table and writing bench/results/*.json, then the
summary (bench/summary.py): the issue's table as ratios from this one run, and the machine it ran on.

Sized to finish in under 10 minutes on a 2-core machine; run a module on its own for longer runs
(e.g. `python -m bench.audit --prefill 1000000 --batch 100`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

PLAN: list[tuple[str, list[str]]] = [
    ("bench.cold_start", ["--runs", "10"]),
    ("bench.runtime_overhead", ["--seconds", "10", "--connections", "4"]),
    ("bench.ledger", ["--seconds", "10"]),
    ("bench.audit", ["--seconds", "15"]),  # one event per request, as a KafkaSource delivers
    ("bench.audit", ["--prefill", "100000", "--seconds", "15", "--batch", "100", "--workers", "2"]),
    ("bench.end_to_end", ["--seconds", "60"]),
]
WRK_MISSING = ("wrk is not installed: `sudo apt-get install wrk` (Debian/Ubuntu), `brew install wrk` (macOS), "
               "or build it from https://github.com/wg/wrk")


def main() -> int:
    failed = []
    for module, args in PLAN:
        if module == "bench.runtime_overhead" and shutil.which("wrk") is None:
            print(f"\n== {module}: skipped, {WRK_MISSING}", flush=True)
            continue
        print(f"\n== {module} {' '.join(args)}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", module, *args])
        print(f"== {module}: {'ok' if code == 0 else f'exit {code}'} in {time.perf_counter() - started:.0f} s",
              flush=True)
        if code != 0:
            failed.append(module)
    subprocess.call([sys.executable, "-m", "bench.summary"])
    if shutil.which("wrk") is None:
        print(f"\n{WRK_MISSING}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
