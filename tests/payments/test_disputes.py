"""Disputes reported by the gateway (payments.gateway-event-received): the payment's state, the dispute-opened and
dispute-closed events, duplicates that change nothing and reports that cannot be applied, audited."""

from __future__ import annotations

from typing import Any

from tests.payments.harness import Harness, payment
from tests.support import post_event, reply_json

GATEWAY_EVENT = "payments.gateway-event-received"
OPENED = "payments.dispute-opened"
CLOSED = "payments.dispute-closed"


def captured(payments: Harness, payment_id: str = "pay_1") -> str:
    assert payments.pay(payment(payment_id)).headers["ce-type"] == "payments.payment-processed"
    stored = payments.payment(payment_id)
    assert stored is not None and stored.gateway_reference
    payments.publisher.events.clear()
    return stored.gateway_reference


def report(reference: str, kind: str = "dispute_opened", amount: str = "100.00", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"gateway": "simulated", "gatewayEventId": f"evt_{kind}", "gatewayEventType": kind,
                            "kind": kind, "reference": reference, "amount": amount, "currency": "EUR",
                            "disputeId": "dp_1", "disputeReason": "fraudulent"}
    if kind == "dispute_closed":
        data["disputeOutcome"] = "lost"
    data.update(overrides)
    return data


def send(payments: Harness, data: dict[str, Any]) -> Any:
    return post_event(payments.client, GATEWAY_EVENT, data)


def status(payments: Harness, payment_id: str = "pay_1") -> str:
    return str(reply_json(payments.client.get(f"/payments/{payment_id}"))["status"])


def test_a_dispute_opens_and_the_payment_is_disputed(payments: Harness) -> None:
    reference = captured(payments)
    response = send(payments, report(reference))
    assert response.status_code == 200 and response.headers["ce-type"] == OPENED
    [opened] = payments.of_type(OPENED)
    assert opened | {"openedAt": None} == opened | {
        "disputeId": "dp_1", "paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1", "amount": "100.00",
        "currency": "EUR", "reason": "fraudulent", "gateway": "simulated", "gatewayReference": reference,
        "openedAt": None}
    assert status(payments) == "disputed"
    [record] = [item for item in payments.audits() if item["action"] == "dispute.opened"]
    assert record["details"]["previousStatus"] == "captured" and record["details"]["disputeId"] == "dp_1"


def test_a_disputed_payment_cannot_be_refunded(payments: Harness) -> None:
    send(payments, report(captured(payments)))
    response = payments.refund({"refundId": "re_1", "paymentId": "pay_1", "amount": "10.00", "currency": "EUR"})
    assert response.headers["ce-type"] == "payments.refund-failed"
    assert reply_json(response)["reason"] == "payment_not_refundable"
    assert status(payments) == "disputed"


def test_the_same_dispute_reported_again_changes_nothing(payments: Harness) -> None:
    reference = captured(payments)
    send(payments, report(reference))
    payments.publisher.events.clear()
    again = send(payments, report(reference, gatewayEventId="evt_again"))
    assert again.status_code == 204 and payments.publisher.events == []


def test_won_returns_the_payment_to_captured_without_a_fee(payments: Harness) -> None:
    reference = captured(payments)
    send(payments, report(reference))
    response = send(payments, report(reference, "dispute_closed", disputeOutcome="won"))
    assert response.headers["ce-type"] == CLOSED
    [closed] = payments.of_type(CLOSED)
    assert (closed["outcome"], closed["amount"], closed["fee"]) == ("won", "100.00",
                                                                    {"amount": "0.00", "currency": "EUR"})
    assert status(payments) == "captured"


def test_lost_charges_the_payment_back_with_the_fee(payments: Harness) -> None:
    reference = captured(payments)
    send(payments, report(reference))
    send(payments, report(reference, "dispute_closed"))
    [closed] = payments.of_type(CLOSED)
    assert (closed["outcome"], closed["fee"]) == ("lost", {"amount": "15.00", "currency": "EUR"})
    assert status(payments) == "charged_back"
    payments.publisher.events.clear()
    assert send(payments, report(reference, "dispute_closed", gatewayEventId="evt_2")).status_code == 204
    assert payments.publisher.events == []


def test_a_partly_refunded_payment_returns_to_partially_refunded_when_won(payments: Harness) -> None:
    reference = captured(payments)
    payments.refund({"refundId": "re_1", "paymentId": "pay_1", "amount": "30.00", "currency": "EUR"})
    assert send(payments, report(reference, amount="70.00")).headers["ce-type"] == OPENED
    send(payments, report(reference, "dispute_closed", amount="70.00", disputeOutcome="won"))
    assert status(payments) == "partially_refunded"


def rejected(payments: Harness) -> list[str]:
    return [item["details"]["reason"] for item in payments.audits() if item["action"] == "dispute.rejected"]


def test_reports_that_cannot_be_applied_are_audited_and_change_nothing(payments: Harness) -> None:
    reference = captured(payments)
    for data in (report("pi_unknown"), report(reference, amount="100.01"), report(reference, currency="USD"),
                 report(reference, "dispute_closed", disputeId="dp_unknown")):
        response = send(payments, data)
        assert response.status_code == 200 and response.headers["ce-type"] == "audit.payment-events"
    assert rejected(payments) == ["payment_not_found", "amount_exceeds_disputable", "currency_mismatch",
                                  "dispute_not_found"]
    assert payments.of_type(OPENED) == [] and status(payments) == "captured"


def test_a_failed_payment_cannot_be_disputed(payments: Harness) -> None:
    payments.pay(payment("pay_f", method={"type": "card", "token": "tok_chargeDeclined"}))
    stored = payments.payment("pay_f")
    assert stored is not None and stored.status == "failed" and stored.gateway_reference is not None
    send(payments, report(stored.gateway_reference))
    assert rejected(payments) == ["payment_not_disputable"] and status(payments, "pay_f") == "failed"


def test_a_report_missing_what_its_kind_needs_is_a_422_naming_the_field(payments: Harness) -> None:
    data = report("pi_1", "dispute_closed")
    del data["disputeOutcome"]
    response = send(payments, data)
    assert response.status_code == 422
    assert reply_json(response)["field"] == "data.disputeOutcome"


def test_payment_succeeded_and_payout_paid_are_audited(payments: Harness) -> None:
    reference = captured(payments)
    send(payments, report(reference, "payment_succeeded", disputeId=None))
    send(payments, report(reference, "payment_succeeded", gatewayEventId="evt_x", amount="99.00", disputeId=None))
    send(payments, report("po_1", "payout_paid", gatewayEventId="evt_po", disputeId=None))
    actions = [(item["action"], item["details"].get("reason")) for item in payments.audits()]
    assert actions == [("gateway.payment_confirmed", None), ("gateway.payment_unconfirmed", "amount_mismatch"),
                       ("gateway.payout_paid", None)]
