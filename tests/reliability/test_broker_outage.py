"""Broker outage: the embedded broker is SIGKILLed in the middle of a payment run and a new, empty one is started on
its address a few seconds later.

While it is down the KafkaSink ingress answers 503, so does a function whose outputs cannot be published (its state
change stays committed together with its stored outputs, which the redelivery publishes again), and the upstream
producer cannot produce. After the restart the dispatchers' consumers join the new broker's groups, everything
produced after the restart flows through all four functions, and everything the dispatchers held in memory across
the outage is finished. What the old broker held and nobody had fetched yet is gone: the test names it.

Every record the ingress accepted (202) is observed in-process, tagged with the broker it went to, so "published"
is exact even for records that died with the old broker before any reader could see them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from paymesh.local.broker import free_port
from paymesh.local.dispatcher import DispatchEvent
from paymesh.local.send import new_event, produce
from paymesh.local.sink_ingress import SinkIngress
from paymesh.local.stack import LocalSet
from paymesh.local.supervisor import PORTS
from paymesh.local.topology import KafkaSink
from shared.envelope import Envelope
from shared.errors import TransientError
from tests.support.http_recorder import Recorder, recording_server

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
if not all((ROOT / "functions" / name / "app.py").exists() for name in PORTS):
    pytest.skip("the four functions are not all written yet", allow_module_level=True)

BEFORE = 40  # produced and completed before the outage
BURST = 300  # produced right before the kill: a backlog the dispatchers cannot have fetched entirely
AFTER = 120  # produced right after the restart, before the consumer groups have re-joined
OUTAGE_SECONDS = 4.0
FLOW_TIMEOUT = 30.0  # for each phase to complete; the whole test is about 40 s on two cores
QUIET_SECONDS = 2.0
OLD, NEW = 0, 1  # which broker the ingress produced to
OUTCOME_TOPICS = ("payments.payment-processed", "payments.payment-failed")
NOTIFICATION_TOPICS = ("notifications.notification-sent", "notifications.notification-failed")
SOURCE = "/reliability/broker-outage"


def payment(payment_id: str, n: int, webhook: str) -> Envelope:
    token = "tok_chargeDeclined" if n % 10 == 3 else "tok_visa"  # a failed outcome now and then
    data: dict[str, Any] = {
        "paymentId": payment_id, "customerId": f"cus_{payment_id}", "merchantId": "mer_outage", "amount": "12.50",
        "currency": "EUR", "method": {"type": "card", "token": token, "country": "DE"}, "billingCountry": "DE",
        "metadata": {"webhookUrl": f"{webhook}/hooks/{payment_id}"},
    }
    return new_event("payments.payment-requested", data, source=SOURCE, correlation_id=f"bo-{payment_id}",
                     event_id=f"req-{payment_id}")


def ids(events: list[Envelope]) -> set[str]:
    return {str((event.data or {})["paymentId"]) for event in events}


@dataclass(frozen=True)
class Accepted:
    topic: str
    event_id: str
    payment_id: str  # from the correlation id; "" for records of no payment of this test
    broker: int


@dataclass
class IngressLog:
    """What the KafkaSink ingress produced (202) and refused (503), per broker, recorded inside its produce()."""

    broker: int = OLD
    accepted: list[Accepted] = field(default_factory=list)
    refused: Counter[tuple[str, int]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, ingress: SinkIngress, monkeypatch: pytest.MonkeyPatch) -> None:
        produce_record = ingress.produce

        def recording(sink: KafkaSink, event: DispatchEvent) -> None:
            broker = self.broker  # read before: an ack seen after the flag moved still came from the old broker
            try:
                produce_record(sink, event)
            except Exception:
                with self._lock:
                    self.refused[(sink.topic, broker)] += 1
                raise
            correlation = event.attributes.get("correlationid", "")
            with self._lock:
                self.accepted.append(Accepted(sink.topic, event.attributes.get("id", ""),
                                              correlation.removeprefix("bo-") if correlation.startswith("bo-")
                                              else "", broker))

        monkeypatch.setattr(ingress, "produce", recording)

    def snapshot(self) -> list[Accepted]:
        with self._lock:
            return list(self.accepted)


@dataclass
class Flows:
    """Per payment: the topics its flow reached, and on which broker; outcome CloudEvent ids."""

    topics: dict[str, dict[str, set[int]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    outcome_ids: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, accepted: list[Accepted]) -> Flows:
        flows = cls()
        for item in accepted:
            if item.payment_id:
                flows.topics[item.payment_id][item.topic].add(item.broker)
                if item.topic in OUTCOME_TOPICS:
                    flows.outcome_ids[item.payment_id].add((item.topic, item.event_id))
        return flows

    def outcome_brokers(self, payment_id: str) -> set[int]:
        reached = self.topics.get(payment_id, {})
        return set().union(*(reached.get(topic, set()) for topic in OUTCOME_TOPICS))

    def complete(self, payment_id: str) -> bool:
        """Outcome published, notification settled, and a processed payment booked by the ledger."""
        reached = self.topics.get(payment_id, {})
        if not any(topic in reached for topic in OUTCOME_TOPICS):
            return False
        if not any(topic in reached for topic in NOTIFICATION_TOPICS):
            return False
        return "payments.payment-failed" in reached or "audit.ledger-events" in reached

    def all_complete(self, payment_ids: set[str]) -> bool:
        return all(self.complete(payment_id) for payment_id in payment_ids)

    def progress(self, payment_ids: set[str]) -> dict[str, int]:
        """How far the flows of payment_ids got, per topic: for a failure message."""
        reached: Counter[str] = Counter()
        for payment_id in payment_ids:
            reached.update(self.topics.get(payment_id, {}).keys())
        return {"payments": len(payment_ids), "complete": sum(map(self.complete, payment_ids)), **reached}


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def payment_states(home: Path) -> dict[str, str]:
    """The payments function's own record of each payment (it has no query route): payment id -> status."""
    with sqlite3.connect(f"file:{home / 'payments.db'}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT payment_id, status FROM payments_payments").fetchall()
    return {str(payment_id): str(status) for payment_id, status in rows}


def post_event(url: str, event: Envelope, timeout: float = 20.0,
               auth: dict[str, str] | None = None) -> tuple[int, dict[str, Any], float]:
    headers, body = event.http_binary()
    headers.update(auth or {})  # the payments source's token: the set runs with authentication on
    started = time.monotonic()
    response = httpx.post(url, headers=headers, content=body, timeout=timeout)
    try:
        document = response.json() if response.content else {}
    except ValueError:
        document = {"text": response.text}
    return response.status_code, document, time.monotonic() - started


@dataclass
class Outage:
    """What one run (normal flow, burst, broker killed, a new empty broker) left behind; each test checks a part."""

    ingress_status: int
    function_status: int
    function_body: dict[str, Any]
    upstream_error: str
    ready: httpx.Response
    recorded_during_outage: str | None
    published_before_restart: set[str]
    redelivered_status: int
    flows: Flows
    states: dict[str, str]
    stats: dict[str, dict[str, int]]
    accepted: list[Accepted]
    refused_on_old_broker: int
    lost_requests: list[str]
    recorded: list[str]
    downstream_lost: list[str]
    carried_over: list[str]
    half_written: list[str]


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    with recording_server(default_status=204) as hooks, pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("PAYMESH_LOG_LEVEL", "WARNING")
        yield _outage_run(tmp_path_factory.mktemp("outage"), hooks, monkeypatch)


def _outage_run(tmp_path: Path, hooks: Recorder, monkeypatch: pytest.MonkeyPatch) -> Outage:
    local = LocalSet(tmp_path / "home", ports={name: free_port() for name in PORTS})
    log = IngressLog()
    before = [payment(f"pay_bo_a{n:03d}", n, hooks.url) for n in range(BEFORE)]
    burst = [payment(f"pay_bo_b{n:03d}", n, hooks.url) for n in range(BURST)]
    after = [payment(f"pay_bo_c{n:03d}", n, hooks.url) for n in range(AFTER)]
    direct = payment("pay_bo_direct", 0, hooks.url)  # posted to the payments function by hand during the outage
    probe = new_event("payments.payment-failed", {}, source=SOURCE, event_id="probe-during-outage")
    report: dict[str, Any] = {}
    try:
        local.start()
        assert local.broker is not None and local.engine is not None and local.engine.ingress is not None
        ingress = local.engine.ingress
        log.wrap(ingress, monkeypatch)
        urls = local.urls
        bootstrap = local.broker.bootstrap

        # 1. A normal run on the first broker.
        produce(bootstrap, before)
        assert wait_for(lambda: Flows.of(log.snapshot()).all_complete(ids(before)), FLOW_TIMEOUT), (
            "the run before the outage did not complete", Flows.of(log.snapshot()).progress(ids(before)))

        # 2. A burst, acknowledged by the broker (acks=all), and the broker dies at once.
        produce(bootstrap, burst)
        local.stop_broker()
        killed = time.monotonic()

        # 3. During the outage: the KafkaSink answers 503, the payments function answers 503 to a delivery whose
        #    outputs it cannot publish, the upstream producer fails, and the function stays ready.
        def probe_ingress() -> tuple[int, float]:
            headers, body = probe.http_binary()
            started = time.monotonic()
            response = httpx.post(f"{ingress.base_url}/paymesh/payments-dead-letter", headers=headers,
                                  content=body, timeout=20)
            return response.status_code, time.monotonic() - started

        def produce_upstream() -> str:
            try:
                produce(bootstrap, [payment("pay_bo_upstream", 0, hooks.url)], timeout=2)
            except TransientError as error:
                return str(error)
            return ""

        with ThreadPoolExecutor(3) as pool:
            ingress_answer = pool.submit(probe_ingress)
            function_answer = pool.submit(post_event, urls["payments"], direct, 20.0,
                                          local.auth_headers("sender", "payments"))
            upstream_error = pool.submit(produce_upstream)
            ready = httpx.get(f"{urls['payments']}/ready", timeout=10)
            ingress_status, ingress_seconds = ingress_answer.result()
            function_status, function_body, function_seconds = function_answer.result()
            upstream = upstream_error.result()
        recorded_during_outage = payment_states(local.home).get("pay_bo_direct")
        published_before_restart = {item.payment_id for item in log.snapshot()}
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - killed)))

        # 4. A new, empty broker on the same address; production goes on at once.
        log.broker = NEW
        outage_seconds = time.monotonic() - killed
        local.start_new_broker()
        restarted = time.monotonic()
        produce(bootstrap, after)
        # Knative redelivers the event the function answered 503; the stored outputs are published again.
        status = 0
        while status != 200 and time.monotonic() < restarted + FLOW_TIMEOUT:
            status, _, _ = post_event(urls["payments"], direct, auth=local.auth_headers("sender", "payments"))
            if status != 200:
                time.sleep(0.5)
        redelivered_status = status
        first_outcome_after: list[float] = []

        def after_done() -> bool:
            flows = Flows.of(log.snapshot())
            if not first_outcome_after and any(flows.outcome_brokers(pid) for pid in ids(after)):
                first_outcome_after.append(time.monotonic() - restarted)
            return flows.all_complete(ids(after) | {"pay_bo_direct"})

        assert wait_for(after_done, FLOW_TIMEOUT), (
            "the flow did not complete for what was produced after the restart",
            Flows.of(log.snapshot()).progress(ids(after) | {"pay_bo_direct"}), local.engine.stats.snapshot())
        completed_seconds = time.monotonic() - restarted
        # What the dispatchers held across the outage finishes too: wait until nothing new is produced for a while.
        count, quiet_since = len(log.snapshot()), time.monotonic()
        while time.monotonic() - quiet_since < QUIET_SECONDS and time.monotonic() < restarted + 2 * FLOW_TIMEOUT:
            time.sleep(0.2)
            if len(log.snapshot()) != count:
                count, quiet_since = len(log.snapshot()), time.monotonic()
        states = payment_states(local.home)
        stats = {topic: vars(counts) for topic, counts in local.engine.stats.snapshot().items()}
        accepted = log.snapshot()
    finally:
        local.stop()

    flows = Flows.of(accepted)
    burst_ids = ids(burst)
    # Exactly what the memory-only broker lost: acknowledged payment requests nobody had fetched...
    lost_requests = sorted(burst_ids - states.keys())
    recorded = sorted(burst_ids & states.keys())
    # ...and outcomes published to the old broker whose consumers had not fetched them yet.
    outcome_old = [pid for pid in recorded if flows.outcome_brokers(pid) == {OLD}]
    downstream_lost = [pid for pid in outcome_old if not flows.complete(pid)]
    carried_over = [pid for pid in recorded if NEW in flows.outcome_brokers(pid)]  # held in a dispatcher's memory
    half_written = [pid for pid in states if not flows.outcome_brokers(pid)]
    refused = {f"{topic}@{'old' if broker == OLD else 'new'}": count for (topic, broker), count in log.refused.items()}
    report.update({
        "outage_seconds": round(outage_seconds, 1),
        "ingress_503_seconds": round(ingress_seconds, 2), "function_503_seconds": round(function_seconds, 2),
        "first_outcome_after_restart_seconds": round(first_outcome_after[0], 2) if first_outcome_after else None,
        "after_restart_complete_seconds": round(completed_seconds, 1),
        "burst": BURST, "burst_lost_requests": len(lost_requests), "burst_recorded": len(recorded),
        "burst_outcome_on_old_broker": len(outcome_old), "burst_outcome_lost_downstream": len(downstream_lost),
        "burst_carried_over_to_new_broker": len(carried_over),
        "lost_requests_sample": lost_requests[:5], "downstream_lost_sample": downstream_lost[:5],
        "refused_by_ingress": refused,
        "retried": {topic: counts["retried"] for topic, counts in stats.items() if counts["retried"]},
    })
    print("\nbroker outage:", json.dumps(report, indent=2))
    (tmp_path / "broker-outage-report.json").write_text(json.dumps(report, indent=2))
    return Outage(
        ingress_status, function_status, function_body, upstream, ready, recorded_during_outage,
        published_before_restart, redelivered_status, flows, states, stats, accepted,
        sum(count for (_, broker), count in log.refused.items() if broker == OLD), lost_requests, recorded,
        downstream_lost, carried_over, half_written)


def test_during_the_outage_sinks_and_functions_answer_503_and_stay_ready(outage: Outage) -> None:
    assert outage.ingress_status == 503
    assert outage.function_status == 503 and outage.function_body.get("error") == "unavailable", outage.function_body
    assert "KafkaSink" in outage.function_body.get("message", ""), outage.function_body
    assert outage.upstream_error, "the upstream producer produced with no broker"
    # /ready checks the store and the publisher; the KafkaSink publisher is an HTTP client and does not probe the
    # broker behind the sink, so the function stays ready and reports the outage per delivery, as a 503.
    assert outage.ready.status_code == 200 and outage.ready.json()["publisher"] == "kafkasink", outage.ready.text
    assert outage.refused_on_old_broker >= 2


def test_a_delivery_answered_503_is_committed_unpublished_until_redelivered(outage: Outage) -> None:
    # The direct delivery's state change committed with its outputs stored, and nothing was published: the one
    # half-written moment, closed by the redelivery.
    assert outage.recorded_during_outage is not None
    assert "pay_bo_direct" not in outage.published_before_restart
    assert outage.redelivered_status == 200


def test_after_the_restart_everything_produced_since_flows_through_all_four(outage: Outage) -> None:
    flows, after = outage.flows, {pid for pid in outage.states if pid.startswith("pay_bo_c")}
    assert len(after) == AFTER
    for pid in after | {"pay_bo_direct"}:
        assert flows.complete(pid) and flows.topics[pid].keys() and all(
            brokers == {NEW} for brokers in flows.topics[pid].values()), (pid, dict(flows.topics[pid]))


def test_before_the_outage_everything_completed_on_the_old_broker(outage: Outage) -> None:
    before = {f"pay_bo_a{n:03d}" for n in range(BEFORE)}
    assert all(outage.flows.complete(pid) for pid in before)


def test_nothing_half_written_and_one_outcome_per_payment(outage: Outage) -> None:
    # Every payment the payments store recorded had its outcome published (old or new broker).
    assert not outage.half_written, outage.half_written[:10]
    # One outcome CloudEvent per payment (republishing uses the stored outputs' ids), matching the store.
    expected_state = {"payments.payment-processed": "captured", "payments.payment-failed": "failed"}
    for pid, found in outage.flows.outcome_ids.items():
        assert len(found) == 1, (pid, found)
        assert outage.states.get(pid) == expected_state[next(iter(found))[0]], (pid, found, outage.states.get(pid))
    # What was carried over in a dispatcher's memory completed on the new broker.
    assert all(outage.flows.complete(pid) for pid in outage.carried_over)


def test_the_loss_is_real_and_confined_to_the_burst(outage: Outage) -> None:
    # Acknowledged requests the payments dispatcher had not fetched (they never reached the payments store, so
    # nothing of them is half-done, and no outcome exists for them), and outcomes published to the old broker that
    # a downstream dispatcher had not fetched.
    flows = outage.flows
    assert outage.lost_requests or outage.downstream_lost, "nothing was lost: the kill came after the burst was handled"
    assert not any(flows.outcome_brokers(pid) for pid in outage.lost_requests)
    assert all(flows.complete(pid) or pid in outage.downstream_lost for pid in outage.recorded)
    assert "pay_bo_upstream" not in outage.states


def test_nothing_was_dead_lettered_or_given_up(outage: Outage) -> None:
    assert not [item for item in outage.accepted if item.topic.endswith(".dead-letter")]
    assert not any(counts["lost"] or counts["dead_lettered"] for counts in outage.stats.values()), outage.stats
