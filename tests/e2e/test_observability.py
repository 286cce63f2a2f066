"""`paymesh up` seen from outside: one trace across the four functions on a real OTLP/HTTP receiver, and a poison
event dead-lettered, listed, shown, fixed by configuration, replayed and completed once with `paymesh dlq`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from paymesh.cli import app as cli
from paymesh.local import journal
from paymesh.local.broker import free_port
from paymesh.local.demo import Webhooks, webhook_receiver
from paymesh.local.send import new_event, produce
from paymesh.local.stack import LocalSet
from paymesh.local.supervisor import PORTS
from paymesh.local.watch import Seen, TopicReader
from paymesh.trace import collect
from tests.support.kafka import wait_for
from tests.support.otlp import Receiver, Span, otlp_receiver

pytestmark = [pytest.mark.broker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"

if not all((ROOT / "functions" / name / "app.py").exists() for name in PORTS):
    pytest.skip("the four functions are not all written yet", allow_module_level=True)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[LocalSet]:
    running = LocalSet(tmp_path_factory.mktemp("paymesh-up"), ports={name: free_port() for name in PORTS},
                       extra_environment={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                                          "OTEL_BSP_SCHEDULE_DELAY": "100"})
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def hooks() -> Iterator[Webhooks]:
    with webhook_receiver() as receiver:
        yield receiver


def payment(payment_id: str, currency: str = "EUR", **metadata: str) -> dict[str, object]:
    return {"paymentId": payment_id, "customerId": f"cus_{payment_id}", "merchantId": "mer_obs", "amount": "12.50",
            "currency": currency, "method": {"type": "card", "token": "tok_visa"}, "metadata": metadata}


def _servers(spans: list[Span]) -> dict[str, list[Span]]:
    by_service: dict[str, list[Span]] = {}
    for span in spans:
        if span.trace_id == CALLER_TRACE and span.kind == "server":
            by_service.setdefault(span.service, []).append(span)
    return by_service


def test_one_trace_from_the_payment_request_to_the_audit_records(local: LocalSet, receiver: Receiver,
                                                                  hooks: Webhooks) -> None:
    assert local.broker is not None
    payment_id = f"pay_{uuid.uuid4().hex[:8]}"
    event = new_event("payments.payment-requested", payment(payment_id, webhookUrl=f"{hooks.url}/receipts"),
                      correlation_id=f"corr-{payment_id}")
    event.attributes["traceparent"] = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    produce(local.broker.bootstrap, [event])

    def complete(spans: list[Span]) -> bool:
        servers = _servers(spans)
        return {"payments", "ledger", "notifications"} <= set(servers) and len(servers.get("audit", [])) >= 3

    spans = receiver.wait_for(complete, timeout=60)
    servers = _servers(spans)
    assert complete(spans), {service: [span.name for span in found] for service, found in servers.items()}
    ours = [span for span in spans if span.trace_id == CALLER_TRACE]
    by_id = {span.span_id: span for span in ours}
    [payments] = servers["payments"]
    assert payments.parent_id == CALLER_SPAN  # parented on the request's span
    assert payments.attributes["cloudevents.event_id"] == event.id
    # each consumer's delivery is parented on the server span of the function that published its event
    for span in servers["ledger"] + servers["notifications"]:
        assert by_id[span.parent_id] is not None and by_id[span.parent_id].service in {"payments", "ledger"}, span
    producers = {by_id[span.parent_id].service for span in servers["audit"]}
    assert {"payments", "ledger", "notifications"} <= producers
    assert {span.service for span in ours} == {"payments", "ledger", "notifications", "audit"}
    # store transaction and publish spans hang under the deliveries
    names = {(by_id[span.parent_id].service, span.name) for span in ours if span.parent_id in by_id}
    assert ("payments", "store.transaction") in names and ("payments", "publish") in names
    # the audit records of this payment are the ones the audit spans handled
    records = httpx.get(f"{local.urls['audit']}/events", params={"correlationId": f"corr-{payment_id}"},
                        headers=local.auth_headers("reader")).json()
    assert {item["eventId"] for item in records["items"]} <= {span.attributes["cloudevents.event_id"]
                                                              for span in servers["audit"]}


def _cli(local: LocalSet, *args: str) -> str:
    result = CliRunner().invoke(cli, ["dlq", *args, "--home", str(local.home)])
    assert result.exit_code == 0, result.output
    return result.output


def _processed(seen: list[Seen], payment_id: str) -> list[Seen]:
    return [item for item in seen if item.topic == "payments.payment-processed"
            and isinstance(item.data, dict) and item.data.get("paymentId") == payment_id]


def test_a_poison_event_is_dead_lettered_listed_shown_fixed_replayed_and_completes_once(local: LocalSet) -> None:
    assert local.broker is not None and local.supervisor is not None
    payment_id = f"pay_nzd_{uuid.uuid4().hex[:8]}"
    reader = TopicReader(local.broker.bootstrap, ["payments.payment-processed", "audit.ledger-events"])
    event = new_event("payments.payment-requested", payment(payment_id, "NZD"), correlation_id=f"corr-{payment_id}")
    produce(local.broker.bootstrap, [event])

    def listed() -> list[dict[str, str]]:
        lines = _cli(local, "list", "--function", "payments", "--json").splitlines()
        return [item for item in map(json.loads, lines) if item["eventId"] == event.id]

    assert wait_for(lambda: bool(listed()), timeout=30), "the poison event never reached payments.dead-letter"
    [letter] = listed()
    assert (letter["function"], letter["type"], letter["status"]) == ("payments", event.type, "422")
    assert "data.currency" in letter["reason"] and "NZD" in letter["reason"]
    shown = json.loads(_cli(local, "show", letter["id"]))
    assert shown["knativeerrorcode"] == "422"
    assert shown["knativeerrordata"]["rule"] == "supported_currency"
    assert shown["event"]["id"] == event.id and shown["event"]["data"]["paymentId"] == payment_id
    assert shown["originalTopic"] == "payments.payment-requested"
    assert "would replay" in _cli(local, "replay", letter["id"], "--dry-run")

    # the cause, fixed by configuration: payments accepts NZD from now on
    limits = {"EUR": ["0.50", "999999.99"], "USD": ["0.50", "999999.99"], "NZD": ["0.50", "999999.99"]}
    local.supervisor.environment = {**local.supervisor.environment,
                                    "PAYMESH_PAYMENTS_AMOUNT_LIMITS": json.dumps(limits)}
    local.supervisor.restart("payments")
    assert "1 event(s) replayed" in _cli(local, "replay", event.id)

    seen = reader.read_until(lambda items: bool(_processed(items, payment_id)), timeout=30)
    assert len(_processed(seen, payment_id)) == 1
    # replaying again changes nothing: payments answers with the stored outcome, which downstream already has
    _cli(local, "replay", letter["id"])
    seen += reader.read_until(lambda items: False, timeout=5)
    reader.close()
    processed = _processed(seen, payment_id)
    assert len({item.attributes["id"] for item in processed}) == 1
    audited = httpx.get(f"{local.urls['audit']}/events", params={"correlationId": f"corr-{payment_id}"},
                        headers=local.auth_headers("reader")).json()
    payment_records = [item for item in audited["items"] if item["service"] == "payments"]
    assert len(payment_records) == 1, payment_records
    balances = httpx.get(f"{local.urls['ledger']}/accounts/merchant:mer_obs/balances",
                         headers=local.auth_headers("reader")).json()
    assert "NZD" in json.dumps(balances)

    # `paymesh trace` tells the story: the refusal, the replays, and what the payment caused
    with httpx.Client(timeout=10, headers=local.auth_headers("reader", "audit")) as client:
        story = collect(payment_id, journal.read(local.home / journal.JOURNAL_FILE), local.urls["audit"], client)
    assert f"corr-{payment_id}" in story.correlation_ids
    [requested] = [step for step in story.roots if step.type == "payments.payment-requested"]
    assert [entry["outcome"] for entry in requested.deliveries] == ["dead_lettered", "delivered", "delivered"]
    assert requested.deliveries[0]["status"] == 422 and "NZD" in requested.deliveries[0]["error"]
    caused = {step.type: step for step in requested.children}
    assert {"payments.payment-processed", "audit.payment-events"} <= set(caused)
    assert [record["action"] for record in caused["audit.payment-events"].audit] == ["payment.captured"]
    processed = caused["payments.payment-processed"]
    assert {entry["function"] for entry in processed.deliveries} >= {"ledger", "notifications"}
    assert "audit.ledger-events" in {step.type for step in processed.children}
    shown = CliRunner().invoke(cli, ["trace", payment_id, "--home", str(local.home)])
    assert shown.exit_code == 0, shown.output
    assert "dead-lettered (422)" in shown.output and "payments.payment-processed" in shown.output
    remote = CliRunner().invoke(cli, ["trace", f"corr-{payment_id}", "--url", local.urls["audit"],
                                      "--token", local.token("reader", "audit")])
    assert remote.exit_code == 0 and "payment.captured" in remote.output, remote.output
    missing = CliRunner().invoke(cli, ["trace", "pay_nobody", "--home", str(local.home)])
    assert missing.exit_code == 1 and "nothing found" in missing.output
