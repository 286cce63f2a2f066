"""The real four functions under functions-framework, the embedded broker and the engine: `paymesh up` minus the
terminal. One payment flows through payments, ledger, notifications and audit with one correlation id and trace."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from paymesh.local.broker import free_port
from paymesh.local.demo import Webhooks, webhook_receiver
from paymesh.local.send import new_event, produce
from paymesh.local.stack import LocalSet
from paymesh.local.supervisor import PORTS
from paymesh.local.watch import Seen, TopicReader
from tests.support.kafka import produce as produce_raw
from tests.support.kafka import wait_for

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]

if not all((ROOT / "functions" / name / "app.py").exists() for name in PORTS):
    pytest.skip("the four functions are not all written yet", allow_module_level=True)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSet]:
    running = LocalSet(tmp_path_factory.mktemp("paymesh-up"), ports={name: free_port() for name in PORTS})
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def hooks() -> Iterator[Webhooks]:
    with webhook_receiver() as receiver:
        yield receiver


def payment(payment_id: str, **metadata: str) -> dict[str, object]:
    return {"paymentId": payment_id, "customerId": f"cus_{payment_id}", "merchantId": "mer_e2e", "amount": "49.90",
            "currency": "EUR", "method": {"type": "card", "token": "tok_visa"}, "metadata": metadata}


def _about(payment_id: str, item: Seen) -> bool:
    data = item.data if isinstance(item.data, dict) else {}
    text = json.dumps(data)
    return payment_id in text


def test_a_payment_flows_through_all_four_functions_with_one_correlation_id_and_trace(
        local: LocalSet, hooks: Webhooks) -> None:
    assert local.broker is not None
    payment_id = f"pay_{uuid.uuid4().hex[:8]}"
    reader = TopicReader(local.broker.bootstrap, local.topics())
    event = new_event("payments.payment-requested", payment(payment_id, webhookUrl=f"{hooks.url}/receipts"),
                      correlation_id=f"corr-{payment_id}")
    trace_id = event.attributes["traceparent"].split("-")[1]
    balances_before = httpx.get(f"{local.urls['ledger']}/accounts/merchant:mer_e2e/balances").json()
    produce(local.broker.bootstrap, [event])
    wanted = {"payments.payment-processed", "ledger.balance-updated", "notifications.notification-sent",
              "audit.payment-events", "audit.ledger-events", "audit.notification-events"}

    def complete(items: list[Seen]) -> bool:
        return wanted <= {item.topic for item in items if item.attributes.get("correlationid") == f"corr-{payment_id}"}

    seen = reader.read_until(complete, timeout=40)
    reader.close()
    ours = [item for item in seen if item.attributes.get("correlationid") == f"corr-{payment_id}"]
    assert wanted <= {item.topic for item in ours}, sorted({item.topic for item in seen})
    assert all(item.attributes["traceparent"].split("-")[1] == trace_id for item in ours)
    processed = next(item for item in ours if item.topic == "payments.payment-processed")
    assert processed.data["paymentId"] == payment_id
    assert not [item for item in seen if item.topic.endswith(".dead-letter")]
    balances_after = httpx.get(f"{local.urls['ledger']}/accounts/merchant:mer_e2e/balances").json()
    assert balances_after != balances_before
    assert any(hook["path"] == "/receipts" for hook in hooks.received)
    # the audit log holds a record from each of the three services under the same correlation id
    def audited() -> set[str]:
        page = httpx.get(f"{local.urls['audit']}/events", params={"correlationId": f"corr-{payment_id}"}).json()
        return {item["service"] for item in page["items"]}

    assert wait_for(lambda: {"payments", "ledger", "notifications"} <= audited(), timeout=15), audited()


def test_a_plain_json_record_from_a_seed_service_is_processed(local: LocalSet) -> None:
    assert local.broker is not None
    payment_id = f"pay_{uuid.uuid4().hex[:8]}"
    reader = TopicReader(local.broker.bootstrap, ["payments.payment-processed", "payments.dead-letter"])
    produce_raw(local.broker.bootstrap, "payments.payment-requested", json.dumps(payment(payment_id)).encode(),
                key=payment_id.encode())
    seen = reader.read_until(lambda items: any(_about(payment_id, item) for item in items), timeout=30)
    reader.close()
    mine = [item for item in seen if _about(payment_id, item)]
    assert [item.topic for item in mine] == ["payments.payment-processed"], mine


def test_the_demo_scenario_completes_and_reports(local: LocalSet) -> None:
    from rich.console import Console

    from paymesh.local.demo import print_result, run_demo

    assert local.broker is not None
    assert local.sandbox is not None  # LocalSet starts the provider sandbox by default
    result = run_demo(local.broker.bootstrap, local.urls, timeout=30, sandbox_url=local.sandbox.url)
    assert result.complete, [(item.topic, item.data) for item in result.seen]
    failed = {item.data["paymentId"]: item.data["reason"] for item in result.of("payments.payment-failed")}
    assert failed == {f"pay_declined_{result.run}": "card_declined", f"pay_fraud_{result.run}": "fraud_declined"}
    assert {item.data["currency"] for item in result.of("payments.payment-processed")} == {"EUR", "USD"}
    sent = [item.data["channel"] for item in result.of("notifications.notification-sent")]
    assert set(sent) == {"webhook", "email", "sms", "push"} and result.webhooks >= 1
    assert result.of("notifications.notification-failed") == []
    # the sandbox got exactly what was sent on its channels (the demo's own plus receipts and failure notices)
    assert result.sandbox == {channel: sent.count(channel) for channel in ("email", "sms", "push")}
    console = Console(record=True, width=200, emoji=False)
    print_result(result, console)
    shown = console.export_text()
    table = shown.split("Notifications")[1].split("webhooks received")[0]
    assert "provider sandbox received: email 1, sms " in shown and "sent" in table and "failed" not in table
    assert result.audit_verify.get("ok") is True
    assert result.trial_balance.get("balanced") is True
    assert not [item for item in result.seen if item.topic.endswith(".dead-letter")]
    # the merchant's webhook endpoint got every payment outcome once, and the demo printed the attempts
    assert result.endpoint is not None and result.endpoint.startswith("ep_"), result.endpoint
    hooks = sorted((m["eventType"], m["status"], [a["status"] for a in m["attempts"]])
                   for m in result.merchant_webhooks)
    assert hooks == sorted([("payments.payment-processed", "delivered", ["delivered"])] * 2
                           + [("payments.payment-failed", "delivered", ["delivered"])] * 2)
    assert "Merchant webhooks" in shown and "delivered 200 in" in shown


def test_paymesh_send_produces_to_the_running_set(local: LocalSet) -> None:
    from typer.testing import CliRunner

    from paymesh.cli import app

    assert local.broker is not None
    payment_id = f"pay_{uuid.uuid4().hex[:8]}"
    reader = TopicReader(local.broker.bootstrap, ["payments.payment-processed"])
    result = CliRunner().invoke(app, ["send", "payments.payment-requested", "--home", str(local.home),
                                      "--data", json.dumps(payment(payment_id))])
    assert result.exit_code == 0, result.output
    seen = reader.read_until(lambda items: any(_about(payment_id, item) for item in items), timeout=20)
    reader.close()
    assert any(_about(payment_id, item) for item in seen)
    unknown = CliRunner().invoke(app, ["send", "payments.nope", "--home", str(local.home), "--data", "{}"])
    assert unknown.exit_code == 2
