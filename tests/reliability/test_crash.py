"""Crash: a long payment run through the local engine while a random function is SIGKILLed and restarted every
few seconds. Knative's delivery contract (retry with the manifest's backoff, redelivery of uncommitted records)
and the functions' idempotency must carry every payment to exactly one outcome with nothing counted twice.

Run size: PAYMESH_RELIABILITY_CRASH_PAYMENTS (default 1000 in `make test`; `make reliability` runs 5000). The kill schedule is random; its seed is printed
and can be fixed with PAYMESH_RELIABILITY_CRASH_SEED. A summary (kills, wall time, retries per topic) is
printed and written to tmp_path/crash-report.json.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from paymesh.local.broker import free_port
from paymesh.local.send import new_event, produce
from paymesh.local.stack import LocalSet
from paymesh.local.supervisor import PORTS
from paymesh.local.watch import Seen, TopicReader
from shared.envelope import Envelope
from tests.support.http_recorder import Recorder, recording_server

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PAYMENTS = int(os.environ.get("PAYMESH_RELIABILITY_CRASH_PAYMENTS", "1000"))
SEED = int(os.environ.get("PAYMESH_RELIABILITY_CRASH_SEED", str(time.time_ns() % 1_000_000)))
KILL_EVERY = (2.0, 5.0)  # seconds between kills, uniform
TIMEOUT = 120.0 + PAYMENTS * 0.12  # the whole run; far above what it needs on 2 cores
QUIET_SECONDS = 3.0

# Mostly successful cards, some declines (both decline reasons), a few of the second brand.
TOKENS = ["tok_visa"] * 14 + ["tok_mastercard"] * 2 + ["tok_chargeDeclined"] * 3 + ["tok_insufficientFunds"]
CURRENCIES = ("EUR", "USD")
CUSTOMERS = 150
MERCHANTS = 7
FEE_BPS = 290  # PaymentsSettings' defaults, restated: the recomputation must not import the code it checks
FEE_FIXED_MINOR = {"EUR": 25, "USD": 30}

OUTCOME_TOPICS = ("payments.payment-processed", "payments.payment-failed")
NOTIFICATION_TOPICS = ("notifications.notification-sent", "notifications.notification-failed")
AUDIT_TOPICS = ("audit.payment-events", "audit.ledger-events", "audit.notification-events")
DEAD_LETTER_TOPICS = tuple(f"{name}.dead-letter" for name in PORTS)
WATCHED = (*OUTCOME_TOPICS, *NOTIFICATION_TOPICS, *AUDIT_TOPICS, *DEAD_LETTER_TOPICS, "ledger.balance-updated")


def payment_request(n: int, rng: random.Random, webhook: str) -> Envelope:
    payment_id = f"pay_crash_{n:05d}"
    data: dict[str, Any] = {
        "paymentId": payment_id, "customerId": f"cus_{rng.randrange(CUSTOMERS):03d}",
        "merchantId": f"mer_{rng.randrange(MERCHANTS)}", "amount": f"{rng.randint(1, 300)}.{rng.randrange(100):02d}",
        "currency": rng.choice(CURRENCIES), "method": {"type": "card", "token": rng.choice(TOKENS), "country": "DE"},
        "billingCountry": "DE", "metadata": {"webhookUrl": f"{webhook}/hooks/{payment_id}"},
    }
    return new_event("payments.payment-requested", data, source="/reliability/crash",
                     correlation_id=f"crash-{payment_id}", event_id=f"req-{payment_id}")


class Collector:
    """Every record appended to the watched topics, read by a background thread."""

    def __init__(self, bootstrap: str) -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = TopicReader(bootstrap, WATCHED)
        self._thread = threading.Thread(target=self._run, name="crash-collector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            fresh = self._reader.poll(timeout_ms=200)
            if fresh:
                with self._lock:
                    self.seen.extend(fresh)
        self._reader.close()

    def snapshot(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class Observed:
    """The records deduplicated by CloudEvent id (redeliveries re-publish stored outputs under the same id)."""

    unique: dict[str, dict[str, Seen]] = field(default_factory=lambda: defaultdict(dict))
    copies: Counter[str] = field(default_factory=Counter)  # records per topic, duplicates included

    @classmethod
    def of(cls, seen: list[Seen]) -> Observed:
        observed = cls()
        for item in seen:
            observed.copies[item.topic] += 1
            kept = observed.unique[item.topic].setdefault(item.attributes.get("id", ""), item)
            if not isinstance(kept.data, dict) and isinstance(item.data, dict):
                observed.unique[item.topic][item.attributes.get("id", "")] = item  # keep a readable copy
        return observed

    def data(self, topic: str) -> list[dict[str, Any]]:
        return [item.data for item in self.unique.get(topic, {}).values() if isinstance(item.data, dict)]

    def outcome_ids(self) -> dict[str, list[tuple[str, str]]]:
        """paymentId -> [(topic, CloudEvent id)] over both outcome topics."""
        found: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for topic in OUTCOME_TOPICS:
            for event_id, item in self.unique.get(topic, {}).items():
                if isinstance(item.data, dict):
                    found[str(item.data.get("paymentId"))].append((topic, event_id))
        return found

    def complete(self, payment_ids: set[str]) -> bool:
        """Every payment has an outcome, its notification is settled, and a processed one is booked."""
        outcomes = self.outcome_ids()
        if not payment_ids <= outcomes.keys():
            return False
        notified = {str(data.get("metadata", {}).get("paymentId")) for topic in NOTIFICATION_TOPICS
                    for data in self.data(topic)}
        booked = {str(data.get("subject", "")).removeprefix("payment:") for data in self.data("audit.ledger-events")}
        processed = {str(data["paymentId"]) for data in self.data("payments.payment-processed")}
        return payment_ids <= notified and processed <= booked


@dataclass
class Kill:
    at: float
    function: str
    restart_seconds: float


def drained(local: LocalSet) -> bool:
    """Every record of every consumed topic has had its outcome at each KafkaSource reading it. Counted from the
    engine's own statistics: the embedded broker's ListOffsets answers are not reliable end offsets."""
    assert local.topology is not None and local.engine is not None
    stats = local.engine.stats.snapshot()
    readers = Counter(topic for source in local.topology.sources for topic in source.topics)
    for topic, count in readers.items():
        counts = stats.get(topic)
        records = PAYMENTS if topic == "payments.payment-requested" else (counts.produced if counts else 0)
        handled = (counts.delivered + counts.dead_lettered + counts.lost) if counts else 0
        if handled < records * count:
            return False
    return True


def engine_state(local: LocalSet) -> str:
    """What each dispatcher holds, for a run that stalls: in-flight batches, paused partitions, positions."""
    assert local.engine is not None
    lines = []
    for source in local.engine.consumers:
        consumer = source._consumer_ref
        try:
            positions = {f"{tp.topic}/{tp.partition}": consumer.position(tp) for tp in consumer.assignment()}
            paused = sorted(f"{tp.topic}/{tp.partition}" for tp in consumer.paused())
        except Exception as error:  # a diagnostic: show what it is
            positions, paused = {"error": repr(error)}, []
        inflight = sorted(f"{tp.topic}/{tp.partition}" for tp in source._inflight)
        lines.append(f"{source.source.name}: error={source._error!r} in-flight={inflight} paused={paused} "
                     f"positions={positions}")
    stats = {topic: vars(counts) for topic, counts in local.engine.stats.snapshot().items()}
    return "\n".join([*lines, json.dumps(stats)])


def expected_fee(amount_minor: int, currency: str) -> int:
    return min((amount_minor * FEE_BPS * 2 + 10_000) // 20_000 + FEE_FIXED_MINOR[currency], amount_minor)


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


def posted_minor(ledger: str, account: str, auth: dict[str, str] | None = None) -> dict[str, int]:
    response = httpx.get(f"{ledger}/accounts/{account}/balances", timeout=10, headers=auth)
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    return {entry["currency"]: minor(entry["posted"]) for entry in response.json()["balances"]}


def payment_states(home: Path) -> dict[str, str]:
    """The payments function's own record of each payment (it exposes no query route)."""
    with sqlite3.connect(f"file:{home / 'payments.db'}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT payment_id, status FROM payments_payments").fetchall()
    return {str(payment_id): str(status) for payment_id, status in rows}


@dataclass
class CrashRun:
    """What one run left behind, read once; each test below checks one property of it."""

    payment_ids: set[str]
    kills: list[Kill]
    observed: Observed
    trial: dict[str, Any]
    verify: dict[str, Any]
    balances: dict[str, dict[str, int]]
    states: dict[str, str]
    report: dict[str, Any]
    webhooks: list[Any]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashRun]:
    with recording_server(default_status=204) as hooks, pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("PAYMESH_LOG_LEVEL", "WARNING")  # a log line per event costs more than the event
        yield _crash_run(tmp_path_factory.mktemp("crash"), hooks)


def _crash_run(tmp_path: Path, hooks: Recorder) -> CrashRun:
    local = LocalSet(tmp_path / "home", ports={name: free_port() for name in PORTS})
    rng = random.Random(SEED)
    requests = [payment_request(n, rng, hooks.url) for n in range(PAYMENTS)]
    payment_ids = {str(event.data["paymentId"]) for event in requests}
    kills: list[Kill] = []
    try:
        local.start()
        assert local.broker is not None and local.engine is not None and local.supervisor is not None
        collector = Collector(local.broker.bootstrap)
        started = time.monotonic()
        produce(local.broker.bootstrap, requests, timeout=60)
        produced_seconds = time.monotonic() - started
        # Kills run on this thread: the supervisor's children get SIGTERM when the thread that started them
        # ends (PR_SET_PDEATHSIG follows the thread), so a killer thread would take its restarts down with it.
        kill_rng = random.Random(SEED)
        names = sorted(local.ports)
        next_kill = started + kill_rng.uniform(*KILL_EVERY)
        deadline = started + TIMEOUT
        outcomes_seconds = None
        last_progress = quiet_since = started
        seen_count = 0
        while time.monotonic() < deadline:
            observed = Observed.of(collector.snapshot())
            if outcomes_seconds is None and payment_ids <= observed.outcome_ids().keys():
                outcomes_seconds = time.monotonic() - started
            if observed.complete(payment_ids):
                break
            if len(collector.seen) != seen_count:
                seen_count, quiet_since = len(collector.seen), time.monotonic()
            elif outcomes_seconds is not None and time.monotonic() - quiet_since > QUIET_SECONDS and drained(local):
                break  # settled but incomplete (something dead-lettered): the assertions below say what
            if time.monotonic() - last_progress > 10:
                last_progress = time.monotonic()
                print(f"{last_progress - started:6.1f} s: {len(observed.outcome_ids())} outcomes, {len(kills)} kills,"
                      f" {local.engine.stats.total('retried')} retries", flush=True)
            if time.monotonic() >= next_kill:
                name = kill_rng.choice(names)
                at = time.monotonic()
                local.supervisor.restart(name, timeout=60)
                kills.append(Kill(round(at - started, 2), name, round(time.monotonic() - at, 2)))
                next_kill = time.monotonic() + kill_rng.uniform(*KILL_EVERY)
            time.sleep(0.2)
        else:
            pytest.fail(f"incomplete after {TIMEOUT:.0f} s:\n{engine_state(local)}")
        # Then until every consumer group has committed everything and nothing new appears for a while.
        quiet_since, count = time.monotonic(), len(collector.snapshot())
        while True:
            assert time.monotonic() < deadline + 60, f"the engine did not drain:\n{engine_state(local)}"
            time.sleep(0.5)
            now_count = len(collector.snapshot())
            if now_count != count:
                quiet_since, count = time.monotonic(), now_count
            elif time.monotonic() - quiet_since > QUIET_SECONDS and drained(local):
                break
        wall = time.monotonic() - started
        collector.stop()
        observed = Observed.of(collector.seen)
        urls = local.urls
        reading = local.auth_headers("reader")  # the set runs with authentication on
        trial = httpx.get(f"{urls['ledger']}/trial-balance", timeout=30, headers=reading).json()
        verify = httpx.get(f"{urls['audit']}/verify", timeout=120, headers=reading).json()
        accounts = {f"merchant:mer_{m}" for m in range(MERCHANTS)} | {"revenue:fees"} | {
            f"assets:gateway_clearing:{data['gateway']}" for data in observed.data("payments.payment-processed")}
        balances = {account: posted_minor(urls["ledger"], account, reading) for account in sorted(accounts)}
        states = payment_states(local.home)
        stats = {topic: vars(counts) for topic, counts in local.engine.stats.snapshot().items()}
    finally:
        local.stop()

    dead = {topic: [(item.attributes.get("type"), item.attributes.get("knativeerrorcode"),
                     item.attributes.get("knativeerrordest"), item.attributes.get("id")) for item in items.values()]
            for topic, items in observed.unique.items() if topic in DEAD_LETTER_TOPICS and items}
    report = {
        "payments": PAYMENTS, "seed": SEED, "wall_seconds": round(wall, 1),
        "produce_seconds": round(produced_seconds, 1),
        "all_outcomes_seconds": round(outcomes_seconds, 1) if outcomes_seconds is not None else None,
        "kills": len(kills), "kills_by_function": dict(Counter(kill.function for kill in kills)),
        "restart_seconds_max": max((kill.restart_seconds for kill in kills), default=0.0),
        "retried": {topic: counts["retried"] for topic, counts in stats.items() if counts["retried"]},
        "retried_total": sum(counts["retried"] for counts in stats.values()),
        "dead_lettered": {topic: counts["dead_lettered"] for topic, counts in stats.items() if counts["dead_lettered"]},
        "lost": {topic: counts["lost"] for topic, counts in stats.items() if counts["lost"]},
        "duplicate_records": {topic: copies - len(observed.unique[topic]) for topic, copies in observed.copies.items()
                              if copies > len(observed.unique[topic])},
        "dead_lettered_events": dead,
        "kill_log": [vars(kill) for kill in kills],
    }
    (tmp_path / "crash-report.json").write_text(json.dumps(report, indent=2))
    print("\ncrash run:", json.dumps({key: value for key, value in report.items() if key != "kill_log"}, indent=2))
    return CrashRun(payment_ids, kills, observed, trial, verify, balances, states, report, list(hooks.requests))


def test_the_run_exercised_crashes(run: CrashRun) -> None:
    assert len(run.kills) >= (3 if PAYMENTS >= 1000 else 1), f"only {len(run.kills)} kills: no crash was exercised"


def test_every_payment_has_exactly_one_outcome_matching_its_stored_state(run: CrashRun) -> None:
    observed, payment_ids, states = run.observed, run.payment_ids, run.states
    outcomes = observed.outcome_ids()
    missing = sorted(payment_ids - outcomes.keys())
    assert not missing, f"{len(missing)} payments without an outcome, e.g. {missing[:5]}"
    several = {pid: found for pid, found in outcomes.items() if len(found) != 1}
    assert not several, f"{len(several)} payments with more than one outcome, e.g. {list(several.items())[:3]}"
    assert outcomes.keys() == payment_ids
    expected_state = {"payments.payment-processed": "captured", "payments.payment-failed": "failed"}
    mismatched = {pid: (found[0][0], states.get(pid)) for pid, found in outcomes.items()
                  if states.get(pid) != expected_state[found[0][0]]}
    assert not mismatched, f"outcome events disagree with the payments store: {list(mismatched.items())[:5]}"
    assert len(states) == PAYMENTS


def test_the_books_balance_per_currency(run: CrashRun) -> None:
    trial = run.trial
    assert trial["balanced"] is True, trial
    for currency in trial["currencies"]:
        assert currency["debits"] == currency["credits"], currency


def test_balances_equal_a_recomputation_from_the_outcomes(run: CrashRun) -> None:
    """By the recipe (debit clearing A, credit merchant N, credit fees F); the ledger shows posted = debits - credits."""
    observed, balances = run.observed, run.balances
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for data in observed.data("payments.payment-processed"):
        currency, amount = data["currency"], minor(data["amount"])
        fee, net = minor(data["fee"]["amount"]), minor(data["net"]["amount"])
        assert fee == expected_fee(amount, currency) and net == amount - fee, data
        expected[f"merchant:{data['merchantId']}"][currency] -= net
        expected["revenue:fees"][currency] -= fee
        expected[f"assets:gateway_clearing:{data['gateway']}"][currency] += amount
    for account, by_currency in expected.items():
        assert balances[account] == dict(by_currency), (account, balances[account], dict(by_currency))


def test_no_webhook_twice_and_one_per_outcome_unless_in_doubt(run: CrashRun) -> None:
    observed = run.observed
    outcomes = observed.outcome_ids()
    received = Counter(request.headers.get("webhook-id") or request.headers.get("Webhook-Id")
                       for request in run.webhooks)
    twice = {hook: count for hook, count in received.items() if count > 1}
    assert not twice, f"{len(twice)} webhooks delivered more than once: {list(twice.items())[:5]}"
    wanted = {f"msg_{'rcpt' if topic == 'payments.payment-processed' else 'fail'}_{pid}"
              for pid, found in outcomes.items() for topic, _ in found}
    in_doubt = {f"msg_{data['notificationId']}" for data in observed.data("notifications.notification-failed")
                if data.get("reason") == "delivery_unknown"}
    assert set(received) <= wanted
    not_received = wanted - set(received)
    assert not_received <= in_doubt, f"webhooks never sent: {sorted(not_received - in_doubt)[:5]}"
    settled = Counter(str(data["notificationId"]) for topic in NOTIFICATION_TOPICS for data in observed.data(topic))
    assert all(count == 1 for count in settled.values())
    assert len(settled) == PAYMENTS


def test_the_audit_log_verifies_and_holds_every_audit_event_once(run: CrashRun) -> None:
    observed, verify = run.observed, run.verify
    published = sum(len(observed.unique.get(topic, {})) for topic in AUDIT_TOPICS)
    assert verify["ok"] is True, verify
    assert verify["count"] == published, (verify["count"], published)


def test_nothing_was_dead_lettered_or_lost(run: CrashRun) -> None:
    assert not run.report["dead_lettered_events"], run.report["dead_lettered_events"]
    assert not run.report["lost"], run.report["lost"]
