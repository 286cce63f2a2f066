"""Cold start: process start to the first 200 on /ready, median of N runs, for the empty function
and each paymesh function, as ratios. We scale to zero, so this is latency a user waits for.

    .venv/bin/python -m bench.cold_start [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paymesh.local.ports import free_port, ready

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGETS = {
    "empty": ROOT / "bench" / "empty_function.py",
    **{name: ROOT / "functions" / name / "main.py" for name in ("payments", "ledger", "notifications", "audit")},
}


def cold_start(source: Path, home: Path) -> float:
    """Seconds from spawning functions-framework to the first 200 on /ready."""
    port = free_port()
    env = {**os.environ, "PAYMESH_HOME": str(home), "PAYMESH_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "functions-framework"), "--source", str(source), "--target", "handle", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/ready"
        while not ready(url):
            if process.poll() is not None:
                raise RuntimeError(f"{source} exited with {process.returncode}")
            if time.perf_counter() - started > 60:
                raise TimeoutError(f"{source} not ready in 60 s")
            time.sleep(0.005)
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=10)


def import_seconds(name: str) -> float:
    """Time to import a function's modules (no store, no server), median of 5 fresh interpreters."""
    module = "functions_framework" if name == "empty" else f"functions.{name}.app"
    code = f"import time; t=time.perf_counter(); import {module}, flask; print(time.perf_counter()-t)"
    samples = []
    for _ in range(5):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=ROOT)
        samples.append(float(result.stdout.strip()))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--only", nargs="*", default=list(TARGETS))
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    samples: dict[str, list[float]] = {name: [] for name in args.only}
    with tempfile.TemporaryDirectory() as root:
        homes = {name: Path(root) / name for name in args.only}
        # The first start creates and migrates the SQLite store; a cold start after scale-to-zero
        # finds it migrated, so that is what the median measures.
        for name in args.only:
            cold_start(TARGETS[name], homes[name])
        # Round robin: on a shared machine every target meets the same changing load.
        for _ in range(args.runs):
            for name in args.only:
                samples[name].append(cold_start(TARGETS[name], homes[name]))
    for name in args.only:
        results[name] = {"median_s": statistics.median(samples[name]), "min_s": min(samples[name]),
                         "max_s": max(samples[name]), "import_s": import_seconds(name)}
    baseline = results.get("empty", {}).get("median_s")
    print(f"{'function':<14}{'cold start (median)':>21}{'min':>9}{'max':>9}{'import':>9}{'ratio':>8}")
    for name, row in results.items():
        ratio = f"{row['median_s'] / baseline:.2f}x" if baseline else "-"
        print(f"{name:<14}{row['median_s'] * 1000:>18.0f} ms{row['min_s'] * 1000:>6.0f} ms"
              f"{row['max_s'] * 1000:>6.0f} ms{row['import_s'] * 1000:>6.0f} ms{ratio:>8}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cold_start.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
