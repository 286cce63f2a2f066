"""Runtime overhead: requests/s and p50/p99 latency of the empty functions-framework function, a no-op
handler behind shared.runtime, and each real function (SQLite), under the same server settings and the
same load generator (wrk, whose own CPU use is shown so it is visibly not the bottleneck).

    .venv/bin/python -m bench.runtime_overhead [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.cold_start import BIN, ROOT
from paymesh.local.ports import free_port, ready
from paymesh.samples import body_template

SOURCES = {
    "empty": ROOT / "bench" / "empty_function.py",
    "noop": ROOT / "bench" / "noop_function.py",
    **{name: ROOT / "functions" / name / "main.py" for name in ("payments", "ledger", "notifications", "audit")},
}

LUA = """
counter = 0
request = function()
  counter = counter + 1
  local n = tostring(counter) .. "_" .. tostring(math.random(1, 1000000000))
  local body = string.gsub(template, "{n}", n)
  wrk.headers["ce-id"] = "bench-" .. n
  return wrk.format("POST", "/", nil, body)
end
"""


def _webhook_receiver() -> tuple[ThreadingHTTPServer, str]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def _parse_wrk(output: str) -> dict[str, float]:
    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50_ms": latency("50"), "p99_ms": latency("99"),
            "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0}


def measure(name: str, seconds: int, connections: int, webhook: str) -> dict[str, float]:
    event_type, template = body_template(name, webhook)
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PAYMESH_HOME": home, "PAYMESH_LOG_LEVEL": "WARNING",
               "PAYMESH_NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
               "PAYMESH_NOTIFICATIONS_WEBHOOK_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
        server = subprocess.Popen(
            [str(BIN / "functions-framework"), "--source", str(SOURCES[name]), "--target", "handle",
             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while not ready(f"http://127.0.0.1:{port}/ready"):
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{name} did not become ready")
                time.sleep(0.05)
            script = Path(home) / "load.lua"
            script.write_text(f"template = {json.dumps(template)}\n" + LUA)
            command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                       "-H", "ce-specversion: 1.0", "-H", "ce-source: /bench", "-H", f"ce-type: {event_type}",
                       "-H", "Content-Type: application/json", f"http://127.0.0.1:{port}/"]
            before = os.times()
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            after = os.times()
            result = _parse_wrk(output)
            wrk_cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
            result["wrk_cpu_pct"] = 100.0 * wrk_cpu / seconds
            return result
        finally:
            server.terminate()
            server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", nargs="*", default=list(SOURCES))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    receiver, webhook = _webhook_receiver()
    results = {name: measure(name, args.seconds, args.connections, webhook) for name in args.only}
    receiver.shutdown()
    base = results.get("empty", {}).get("rps") or 0.0
    print(f"{'function':<14}{'req/s':>9}{'p50':>10}{'p99':>10}{'non-2xx':>9}{'vs empty':>10}{'wrk CPU':>9}")
    for name, row in results.items():
        ratio = f"{row['rps'] / base:.2f}x" if base else "-"
        print(f"{name:<14}{row['rps']:>9.0f}{row['p50_ms']:>8.2f}ms{row['p99_ms']:>8.2f}ms"
              f"{row['non_2xx']:>9.0f}{ratio:>10}{row['wrk_cpu_pct']:>8.0f}%")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "runtime_overhead.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
