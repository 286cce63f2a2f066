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
    reading = local.auth_headers("reader")  # the set runs with authentication on, as with authentication-oidc
    balances_before = httpx.get(f"{local.urls['ledger']}/accounts/merchant:mer_e2e/balances", headers=reading).json()
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
    balances_after = httpx.get(f"{local.urls['ledger']}/accounts/merchant:mer_e2e/balances", headers=reading).json()
    assert balances_after != balances_before
    assert any(hook["path"] == "/receipts" for hook in hooks.received)
    # the audit log holds a record from each of the three services under the same correlation id
    def audited() -> set[str]:
        page = httpx.get(f"{local.urls['audit']}/events", params={"correlationId": f"corr-{payment_id}"},
                         headers=reading).json()
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
    result = run_demo(local.broker.bootstrap, local.urls, timeout=30, sandbox_url=local.sandbox.url,
                      headers=local.auth_headers("admin"))
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
    # it ends with a chargeback on the EUR payment: disputed, lost, the amount and fee taken from the merchant
    assert result.dispute is not None and result.dispute.complete and result.dispute.payment_status == "charged_back"
    [closed] = result.of("payments.dispute-closed")
    assert (closed.data["paymentId"], closed.data["outcome"]) == (f"pay_eur_{result.run}", "lost")
    assert f"dispute dp_demo_{result.run} on pay_eur_{result.run}" in shown
    # and closes with a settlement run: a payout held per currency the merchant has money available in
    assert result.settlement is not None and result.settlement.payouts, result.settlement
    assert all(payout["merchantId"] == "mer_demo" and payout["period"] == f"demo-{result.run}"
               for payout in result.settlement.payouts)
    assert f"settlement demo-{result.run}: payout " in shown
    # the merchant's webhook endpoint got every payment outcome and the dispute once; the demo printed the attempts
    assert result.endpoint is not None and result.endpoint.startswith("ep_"), result.endpoint
    hooks = sorted((m["eventType"], m["status"], [a["status"] for a in m["attempts"]])
                   for m in result.merchant_webhooks)
    assert hooks == sorted([("payments.payment-processed", "delivered", ["delivered"])] * 2
                           + [("payments.payment-failed", "delivered", ["delivered"])] * 2
                           + [("payments.dispute-opened", "delivered", ["delivered"]),
                              ("payments.dispute-closed", "delivered", ["delivered"])])
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


def test_the_set_runs_with_authentication_on_and_paymesh_token_opens_the_query_routes(local: LocalSet) -> None:
    from typer.testing import CliRunner

    from paymesh.cli import app

    for name, url in local.urls.items():
        assert httpx.get(f"{url}/ready").json()["auth"] == "on", name
    trial = f"{local.urls['ledger']}/trial-balance"
    refused = httpx.get(trial)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    minted = CliRunner().invoke(app, ["token", "--role", "reader", "--home", str(local.home)])
    assert minted.exit_code == 0, minted.output
    token = minted.output.strip()
    assert httpx.get(trial, headers={"Authorization": f"Bearer {token}"}).json()["balanced"] is True
    admin = CliRunner().invoke(app, ["token", "--role", "admin", "--function", "ledger", "--home", str(local.home)])
    headers = {"Authorization": f"Bearer {admin.output.strip()}"}
    assert httpx.get(trial, headers=headers).status_code == 200
    assert httpx.get(f"{local.urls['audit']}/verify", headers=headers).status_code == 401  # a token for ledger only
    assert CliRunner().invoke(app, ["token", "--role", "root", "--home", str(local.home)]).exit_code == 2
    nowhere = CliRunner().invoke(app, ["token", "--role", "reader", "--home", str(local.home / "none")])
    assert nowhere.exit_code == 2 and "no running" in nowhere.output


def test_a_sender_token_for_another_function_is_refused_by_the_function(local: LocalSet) -> None:
    event = new_event("payments.payment-requested", payment(f"pay_{uuid.uuid4().hex[:8]}"))
    headers, body = event.http_binary()
    as_ledger_source = {**headers, "Authorization": f"Bearer {local.token('sender', 'ledger')}"}
    response = httpx.post(local.urls["payments"] + "/", headers=as_ledger_source, content=body)
    assert response.status_code == 401 and response.json()["rule"] == "aud"
    own = {**headers, "Authorization": f"Bearer {local.token('sender', 'payments')}"}
    assert httpx.post(local.urls["payments"] + "/", headers=own, content=body).status_code == 200


def test_zz_the_logs_hold_none_of_the_secrets_the_run_used(local: LocalSet) -> None:
    """Last in the module: after every flow above. Tokens (the dispatchers' and the tests'), the issuer's signing key
    and the webhook signing secret must appear in no log."""
    assert local.issuer is not None
    logs = sorted((local.home / "logs").glob("*.log"))
    assert len(logs) == 4
    text = "\n".join(path.read_text(errors="replace") for path in logs)
    assert "event handled" in text  # the logs are the real ones, with the flows in them
    tokens = local.issuer.signer.issued
    assert len(tokens) >= 5
    secrets = {"webhook secret": (local.home / "webhook-secret").read_text().strip()}
    for index, token in enumerate(sorted(tokens)):
        secrets[f"token {index}"] = token
        secrets[f"token {index} signature"] = token.split(".")[2]
    key_lines = [line for line in local.issuer.signer.private_pem.decode().splitlines() if "PRIVATE KEY" not in line]
    secrets.update({f"signing key line {n}": line for n, line in enumerate(key_lines)})
    assert [name for name, value in secrets.items() if value in text] == []
