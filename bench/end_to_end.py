"""End to end on the local engine and the embedded broker: payment flows per second and their latency.

A LocalSet (embedded Tansu broker, KafkaSink ingress, the four functions under functions-framework on SQLite, the
KafkaSource dispatchers) runs in this process and its children. A separate load-generator process produces
payments.payment-requested as plain JSON records with KafkaJS, an outside client (tok_visa, every payment its own
customer so the fraud velocity rules never fire, ten merchants) at an open-loop rate and times each flow from its
produce (the scheduled send time, so a lagging generator cannot hide latency) to the consumption of the merchant
account's ledger.balance-updated with the same correlation id (payment-requested -> payments -> payment-processed ->
ledger -> balance-updated).

Phases: warm-up; open-loop steps of rising rate (a step is sustained when every flow completes within
STEP_DRAIN, p99 stays under LATENCY_BOUND, the latency of its second half is not growing and no more than
rate * BACKLOG_SECONDS flows are in flight when the window ends); then, on a fresh
set, the measured run at 0.8 x the highest sustained step rate for --seconds; then, in the same set, the broker's
own produce/consume rate (kafka-python producer and consumer, acks=all, records of the same size and headers,
on a scratch topic). CPU of each process (functions, this process = engine, load generator, broker) is
sampled from /proc around the measured run and the broker test.

    .venv/bin/python -m bench.end_to_end [--seconds 60] [--rate N (skip the ramp)]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
REQUESTED = "payments.payment-requested"
BALANCE = "ledger.balance-updated"
FAILED = "payments.payment-failed"
SCRATCH = "bench.scratch"
MERCHANTS = 10
LATENCY_BOUND = 5.0  # s: a run whose p99 exceeds this is not sustained, however flat its backlog
BACKLOG_SECONDS = 2.0  # in flight at the end of the window above rate * this: the backlog is growing
STEP_SECONDS = 4.0
STEP_DRAIN = 5.0
STEP_RATES = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 75.0, 100.0)
MEASURE_FRACTION = 0.8
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- load generator (its own process: its CPU is not the engine's) ------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class Tracker:
    """Flows in flight (correlation id -> scheduled send time) and their completions, fed by a reader thread."""

    def __init__(self, bootstrap: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.failed: dict[str, float] = {}
        self.consumed: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False,
                                      client_id="bench-e2e-reader", fetch_max_wait_ms=50)
        partitions = [TopicPartition(topic, partition) for topic in (BALANCE, FAILED)
                      for partition in sorted(self.consumer.partitions_for_topic(topic) or ())]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            self.consumer.position(partition)
        self.thread = threading.Thread(target=self._run, name="bench-reader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            batches = self.consumer.poll(timeout_ms=50)
            now = time.monotonic()
            with self.lock:
                for records in batches.values():
                    for record in records:
                        self.consumed[record.topic] += 1
                        headers = dict(record.headers or [])
                        corr = headers.get("ce_correlationid", b"").decode()
                        if corr not in self.sent or corr in self.done or corr in self.failed:
                            continue
                        if record.topic == FAILED:
                            self.failed[corr] = now
                        elif headers.get("ce_subject", b"").startswith(b"merchant:"):
                            self.done[corr] = now
        self.consumer.close()

    def finished(self, ids: Sequence[str]) -> int:
        with self.lock:
            return sum(1 for corr in ids if corr in self.done or corr in self.failed)


class LoadGenerator:
    """Produces plain JSON payment requests with KafkaJS (as an upstream service would: no CloudEvents
    headers; the correlation id rides in the data's metadata) from one long-running node process."""

    def __init__(self, bootstrap: str) -> None:
        from tests.support.kafkajs import installed

        self.bootstrap = bootstrap
        self.run_id = os.urandom(3).hex()
        self.count = 0
        self.producer = subprocess.Popen(["node", str(installed() / "produce.mjs"), bootstrap, REQUESTED],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.tracker = Tracker(bootstrap)
        self.sample = self._cloudevent(0)

    def _data(self, n: int) -> tuple[str, dict[str, Any]]:
        payment_id = f"pay_b{self.run_id}_{n}"
        correlation_id = f"bench-{payment_id}"
        return correlation_id, {
            "paymentId": payment_id, "customerId": f"cus_b{self.run_id}_{n}", "merchantId": f"mer_b{n % MERCHANTS}",
            "amount": f"{20 + n % 50}.90", "currency": "EUR", "method": {"type": "card", "token": "tok_visa"},
            "metadata": {"correlationId": correlation_id}}

    def _record(self, n: int) -> tuple[str, str]:
        """(correlation id, the KafkaJS producer's input line: key = payment id, value = the JSON data)."""
        correlation_id, data = self._data(n)
        return correlation_id, json.dumps({"key": data["paymentId"], "value": data}) + "\n"

    def _cloudevent(self, n: int) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
        """The same request as a binary-mode CloudEvent record: the broker test's record size."""
        from paymesh.local.send import new_event

        correlation_id, data = self._data(n)
        event = new_event(REQUESTED, data, source="/paymesh/bench", correlation_id=correlation_id)
        headers, key, value = event.kafka_binary()
        return key, value, headers

    def run(self, rate: float, seconds: float, drain: float, burst: int = 0) -> dict[str, Any]:
        """Produce at `rate`/s for `seconds` (or `burst` records at once), then wait up to `drain` for the rest."""
        total = burst or max(1, round(rate * seconds))
        records = [self._record(self.count + n) for n in range(total)]
        self.count += total
        ids = [record[0] for record in records]
        tracker = self.tracker
        samples: list[tuple[float, int, int]] = []  # (t since start, produced, finished)
        lag = 0.0
        start = time.monotonic() + 0.05
        next_sample = start
        stdin = self.producer.stdin
        assert stdin is not None
        for n, (corr, line) in enumerate(records):
            due = start if burst else start + n / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
                now = time.monotonic()
            lag = max(lag, now - due)
            with tracker.lock:
                tracker.sent[corr] = due
            stdin.write(line)
            stdin.flush()
            if now >= next_sample:
                samples.append((now - start, n + 1, tracker.finished(ids)))
                next_sample += 1.0
        window_end = start + (0 if burst else seconds)
        produced_at = time.monotonic()
        while time.monotonic() < produced_at + drain:
            finished = tracker.finished(ids)
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - start, total, finished))
                next_sample += 1.0
            if finished == total:
                break
            time.sleep(0.02)
        with tracker.lock:
            done = {corr: tracker.done[corr] - tracker.sent[corr] for corr in ids if corr in tracker.done}
            ends = sorted(tracker.done[corr] for corr in ids if corr in tracker.done)
            failed = sum(1 for corr in ids if corr in tracker.failed)
        latencies = [done[corr] for corr in ids if corr in done]
        half = len(ids) // 2
        first = [done[corr] for corr in ids[:half] if corr in done]
        second = [done[corr] for corr in ids[half:] if corr in done]
        in_window = sum(1 for end in ends if end <= window_end) if not burst else len(ends)
        span = (ends[-1] - start) if ends else float("nan")
        return {
            "target_rate": rate if not burst else None, "seconds": seconds if not burst else None,
            "produced": total, "completed": len(latencies), "failed": failed,
            "unfinished": total - len(latencies) - failed,
            "completed_in_window": in_window,
            "flows_per_s": (in_window / seconds) if not burst else (len(ends) / span if ends else 0.0),
            "p50_ms": percentile(latencies, 50) * 1000, "p90_ms": percentile(latencies, 90) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "max_ms": max(latencies, default=float("nan")) * 1000,
            "first_half_p50_ms": percentile(first, 50) * 1000, "second_half_p50_ms": percentile(second, 50) * 1000,
            "generator_lag_max_ms": lag * 1000,
            "in_flight_at_window_end": next((p - f for t, p, f in samples if t >= (0 if burst else seconds)), 0),
            "backlog": [{"t": round(t, 1), "produced": p, "finished": f, "in_flight": p - f} for t, p, f in samples],
        }

    def broker_rate(self, seconds: float) -> dict[str, Any]:
        """kafka-python producer (acks=all) and consumer on a scratch topic, payment-sized records, flat out."""
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        from paymesh.local.broker import create_topics

        create_topics(self.bootstrap, [SCRATCH])
        key, value, headers = self.sample
        size = len(value) + len(key or b"") + sum(len(name) + len(data) for name, data in headers)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap.split(","), enable_auto_commit=False,
                                 client_id="bench-raw-consumer", fetch_max_wait_ms=50)
        partitions: list[Any] = []
        deadline = time.monotonic() + 10
        while not partitions and time.monotonic() < deadline:
            partitions = [TopicPartition(SCRATCH, p) for p in sorted(consumer.partitions_for_topic(SCRATCH) or ())]
            if not partitions:
                time.sleep(0.1)
                consumer.poll(timeout_ms=0)
        consumer.assign(partitions)
        consumer.seek_to_end(*partitions)
        for partition in partitions:
            consumer.position(partition)
        producer = KafkaProducer(bootstrap_servers=self.bootstrap.split(","), acks="all", enable_idempotence=True,
                                 linger_ms=2, client_id="bench-raw-producer")
        produced = [0, 0.0]  # records, seconds from start to the last acknowledgement
        producing = threading.Event()
        producing.set()
        consumed = 0
        started = time.monotonic()
        last_consumed = started

        def produce() -> None:
            end = time.monotonic() + seconds
            n = 0
            while time.monotonic() < end:
                for _ in range(100):
                    producer.send(SCRATCH, key=f"k{n}".encode(), value=value, headers=headers)
                    n += 1
            producer.flush()
            produced[:] = [n, time.monotonic() - started]
            producing.clear()

        thread = threading.Thread(target=produce, name="bench-raw-producer", daemon=True)
        thread.start()
        while producing.is_set() or consumed < produced[0]:
            batches = consumer.poll(timeout_ms=100)
            got = sum(len(records) for records in batches.values())
            if got:
                consumed += got
                last_consumed = time.monotonic()
            if not producing.is_set() and time.monotonic() - last_consumed > 10:
                break
        thread.join()
        producer.close()
        consumer.close()
        count, produce_seconds = int(produced[0]), float(produced[1])
        return {"record_bytes": size, "produced": count, "consumed": consumed,
                "produce_seconds": round(produce_seconds, 2), "consume_seconds": round(last_consumed - started, 2),
                "produce_per_s": count / max(produce_seconds, 1e-9),
                "consume_per_s": consumed / max(last_consumed - started, 1e-9),
                "produce_mb_per_s": count * size / max(produce_seconds, 1e-9) / 1e6}

    def close(self) -> None:
        self.tracker.stopping.set()
        self.tracker.thread.join(5)
        if self.producer.stdin is not None:
            self.producer.stdin.close()
        self.producer.wait(timeout=30)


def loadgen_main(conn: Connection, bootstrap: str) -> None:
    """The load-generator process: answers commands from the parent over a pipe."""
    generator = LoadGenerator(bootstrap)
    conn.send({"ok": True})
    while True:
        command = conn.recv()
        name = command.pop("cmd")
        if name == "quit":
            conn.send({"consumed": dict(generator.tracker.consumed)})
            generator.close()
            return
        if name == "run":
            conn.send(generator.run(**command))
        elif name == "broker":
            conn.send(generator.broker_rate(**command))


# ---- CPU accounting from /proc ---------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, utime + stime ticks) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree_ticks(root: int) -> int:
    """CPU ticks of a process and all its live descendants (gunicorn master plus workers)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                table[int(entry)] = stat
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            total += table[pid][1]
            stack.extend(child for child, (parent, _) in table.items() if parent == pid)
    return total


def own_ticks() -> int:
    stat = _stat(os.getpid())
    return stat[1] if stat else 0


class CpuMeter:
    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes  # label -> root pid (this process counted without its children)

    def snapshot(self) -> tuple[float, dict[str, int]]:
        return time.monotonic(), {label: own_ticks() if pid == os.getpid() else tree_ticks(pid)
                                  for label, pid in self.processes.items()}

    @staticmethod
    def percent(before: tuple[float, dict[str, int]], after: tuple[float, dict[str, int]]) -> dict[str, float]:
        wall = after[0] - before[0]
        return {label: round((after[1][label] - before[1][label]) / CLK_TCK / wall * 100, 1)
                for label in after[1]}


# ---- orchestration ---------------------------------------------------------------------------------------

def _say(line: str) -> None:
    print(line, flush=True)


def _sustained(step: dict[str, Any]) -> bool:
    """Every flow completed, latency bounded and not growing, backlog at the window's end not growing."""
    return bool(step["unfinished"] == 0 and step["failed"] == 0 and step["p99_ms"] <= LATENCY_BOUND * 1000
                and step["second_half_p50_ms"] <= 2 * step["first_half_p50_ms"] + 100
                and step["in_flight_at_window_end"] <= max(10.0, step["target_rate"] * BACKLOG_SECONDS))


def _step_line(label: str, step: dict[str, Any]) -> str:
    rate = f"{step['target_rate']:.0f}/s" if step["target_rate"] else "burst"
    return (f"  {label:<9}{rate:>8}  produced {step['produced']:>5}  done {step['completed']:>5}  "
            f"{step['flows_per_s']:6.1f} flows/s  p50 {step['p50_ms']:7.0f} ms  p99 {step['p99_ms']:7.0f} ms  "
            f"unfinished {step['unfinished']}")


def _delta_stats(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for topic, counts in after.items():
        old = before.get(topic, {})
        diff = {field: value - old.get(field, 0) for field, value in counts.items()}
        if any(diff.values()):
            out[topic] = diff
    return out


class Session:
    """A fresh LocalSet (temp dir, free ports) plus the load-generator process, and CPU meters over both."""

    def __init__(self) -> None:
        from paymesh.local.broker import free_port
        from paymesh.local.stack import LocalSet
        from paymesh.local.supervisor import PORTS

        self.home = Path(tempfile.mkdtemp(prefix="paymesh-bench-e2e-"))
        self.local = LocalSet(self.home, ports={name: free_port() for name in PORTS},
                              say=lambda line: _say(f"  {line}"))
        context = multiprocessing.get_context("spawn")
        self.parent, child = context.Pipe()
        _say("starting a local set (SQLite stores in a temp dir)")
        self.local.start()
        assert self.local.broker is not None and self.local.supervisor is not None
        _say(f"ready in {self.local.ready_seconds:.1f} s")
        self.loadgen = context.Process(target=loadgen_main, args=(child, self.local.broker.bootstrap),
                                       name="bench-loadgen")
        self.loadgen.start()
        self.parent.recv()
        processes = {f"function {name}": function.process.pid
                     for name, function in self.local.supervisor.functions.items()}
        processes["engine (this process)"] = os.getpid()
        processes["load generator"] = int(self.loadgen.pid or 0)
        if self.local.broker.process is not None:
            processes["broker (tansu)"] = self.local.broker.process.pid
        self.meter = CpuMeter(processes)

    def call(self, cmd: str, **kwargs: Any) -> dict[str, Any]:
        self.parent.send({"cmd": cmd, **kwargs})
        answer: dict[str, Any] = self.parent.recv()
        return answer

    def stats(self) -> dict[str, Any]:
        assert self.local.engine is not None
        return {topic: asdict(counts) for topic, counts in self.local.engine.stats.snapshot().items()}

    def close(self) -> dict[str, int]:
        consumed: dict[str, int] = {}
        try:
            if self.loadgen.is_alive():
                consumed = self.call("quit")["consumed"]
                self.loadgen.join(10)
        finally:
            if self.loadgen.is_alive():
                self.loadgen.terminate()
                self.loadgen.join(5)
            self.local.stop()
            shutil.rmtree(self.home, ignore_errors=True)
        return consumed


def ramp(session: Session) -> tuple[float, list[dict[str, Any]]]:
    """Open-loop steps of rising rate until one is not sustained; the highest sustained rate."""
    steps: list[dict[str, Any]] = []
    best = STEP_RATES[0]
    for step_rate in STEP_RATES:
        step = session.call("run", rate=step_rate, seconds=STEP_SECONDS, drain=STEP_DRAIN)
        step["sustained"] = _sustained(step)
        steps.append(step)
        _say(_step_line("step", step) + ("" if step["sustained"] else "  <- not sustained"))
        if not step["sustained"]:
            break
        best = step_rate
    return best, steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured run")
    parser.add_argument("--rate", type=float, default=None, help="payments/s for the measured run (skips the ramp)")
    parser.add_argument("--broker-seconds", type=float, default=3.0)
    args = parser.parse_args(argv)

    began = time.monotonic()
    steps: list[dict[str, Any]] = []
    rate = args.rate
    if rate is None:
        session = Session()
        try:
            _say(_step_line("warm-up", session.call("run", rate=10.0, seconds=1.0, drain=15.0)))
            best, steps = ramp(session)
            # A 4-second step hides a backlog that 60 s would build up: measure below the best step.
            rate = MEASURE_FRACTION * best
        finally:
            session.close()
    # The measured run gets a fresh set: an overloaded ramp step leaves a backlog (and, see the report,
    # can leave a partition stalled) that would otherwise spill into it.
    session = Session()
    try:
        warm = session.call("run", rate=10.0, seconds=1.0, drain=15.0)
        _say(_step_line("warm-up", warm))
        _say(f"measured run: {rate:.0f} payments/s for {args.seconds:.0f} s")
        stats_before, cpu_before = session.stats(), session.meter.snapshot()
        session.parent.send({"cmd": "run", "rate": float(rate), "seconds": args.seconds, "drain": 20.0})
        time.sleep(args.seconds + 0.05)  # CPU and deliveries over the produce window only, not the drain
        cpu_after, stats_after = session.meter.snapshot(), session.stats()
        measured: dict[str, Any] = session.parent.recv()
        measured["sustained"] = _sustained(measured)
        measured["cpu_percent"] = CpuMeter.percent(cpu_before, cpu_after)
        measured["delivered_per_topic"] = _delta_stats(stats_before, stats_after)
        _say(_step_line("measured", measured))

        _say(f"broker raw rate: kafka-python producer + consumer on {SCRATCH} for {args.broker_seconds:.0f} s")
        cpu_before = session.meter.snapshot()
        raw = session.call("broker", seconds=args.broker_seconds)
        raw["cpu_percent"] = CpuMeter.percent(cpu_before, session.meter.snapshot())
    finally:
        consumed = session.close()
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "ready_seconds": round(session.local.ready_seconds, 2), "latency_bound_s": LATENCY_BOUND,
        "warmup": warm, "ramp": steps, "measured": measured, "broker_raw": raw, "reader_consumed": consumed,
        "total_seconds": round(time.monotonic() - began, 1)}
    report(result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "end_to_end.json").write_text(json.dumps(result, indent=2))
    return 0


def report(result: dict[str, Any]) -> None:
    measured, raw = result["measured"], result["broker_raw"]
    print()
    print(f"{'end to end (local engine, embedded broker)':<44}{'value':>14}")
    rows: list[tuple[str, str]] = [
        ("target rate (payments/s, open loop)", f"{measured['target_rate']:.0f}"),
        ("flows completed per second", f"{measured['flows_per_s']:.1f}"),
        ("sustained", "yes" if measured["sustained"] else "no"),
        ("payments produced / completed in window", f"{measured['produced']} / {measured['completed_in_window']}"),
        ("in flight at window end", f"{measured['in_flight_at_window_end']}"),
        ("failed / unfinished 20 s after", f"{measured['failed']} / {measured['unfinished']}"),
        ("latency p50", f"{measured['p50_ms']:.0f} ms"),
        ("latency p90", f"{measured['p90_ms']:.0f} ms"),
        ("latency p99", f"{measured['p99_ms']:.0f} ms"),
        ("latency max", f"{measured['max_ms']:.0f} ms"),
        ("generator lag max", f"{measured['generator_lag_max_ms']:.0f} ms"),
        ("broker raw produce (acks=all)", f"{raw['produce_per_s']:.0f} rec/s"),
        ("broker raw consume", f"{raw['consume_per_s']:.0f} rec/s"),
        ("record size (value + key + headers)", f"{raw['record_bytes']} B"),
        ("whole benchmark", f"{result['total_seconds']:.0f} s"),
    ]
    for label, value in rows:
        print(f"{label:<44}{value:>14}")
    print(f"\n{'CPU, % of one core':<28}{'measured run':>14}{'broker test':>14}")
    for label, value in measured["cpu_percent"].items():
        print(f"{label:<28}{value:>13.0f}%{raw['cpu_percent'].get(label, 0.0):>13.0f}%")
    print(f"\n{'topic (measured run)':<36}{'produced':>10}{'delivered':>11}{'retried':>9}{'dead':>6}")
    for topic, counts in measured["delivered_per_topic"].items():
        print(f"{topic:<36}{counts['produced']:>10}{counts['delivered']:>11}{counts['retried']:>9}"
              f"{counts['dead_lettered']:>6}")
    print("  (produced: via the KafkaSink ingress; payment-requested is produced by the load generator directly)")


if __name__ == "__main__":
    raise SystemExit(main())

