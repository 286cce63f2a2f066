"""payment-processed / payment-failed become a receipt / failure notice, sent once per payment."""

from __future__ import annotations

import json
from typing import Any

from tests.notifications.harness import MakeHarness
from tests.notifications.servers import smtp_server
from tests.support import reply_json
from tests.support.http_recorder import recording_server

PROCESSED = "payments.payment-processed"
FAILED = "payments.payment-failed"


def processed(payment_id: str, **metadata: Any) -> dict[str, Any]:
    return {"paymentId": payment_id, "customerId": "cus_1", "merchantId": "mer_1", "amount": "20.00",
            "currency": "EUR", "fee": {"amount": "0.60", "currency": "EUR"},
            "net": {"amount": "19.40", "currency": "EUR"}, "gateway": "simulated", "gatewayReference": "sim_1",
            "metadata": metadata}


def failed(payment_id: str, **metadata: Any) -> dict[str, Any]:
    return {"paymentId": payment_id, "customerId": "cus_1", "merchantId": "mer_1", "amount": "20.00",
            "currency": "EUR", "reason": "card_declined", "metadata": metadata}


def test_payment_processed_sends_one_webhook_receipt_however_often_delivered(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server(default_status=204) as hook:
        replies = [app.post(PROCESSED, processed("pay_1", webhookUrl=hook.url + "/receipts"), event_id="pp-1")
                   for _ in range(3)]
    assert [reply.status_code for reply in replies] == [200] * 3
    [request] = hook.requests
    assert request.headers["webhook-id"] == "msg_rcpt_pay_1"
    payload = json.loads(request.body)
    assert payload["type"] == "payment.succeeded"
    assert payload["data"]["paymentId"] == "pay_1" and payload["data"]["amount"] == "20.00"
    sent = reply_json(replies[0])
    assert sent["notificationId"] == "rcpt_pay_1" and sent["metadata"]["paymentId"] == "pay_1"
    assert len(app.outputs("notifications.notification-sent")) == 3  # the same output re-published, same id
    assert len({event.id for event in app.publisher.of_type("notifications.notification-sent")}) == 1


def test_payment_failed_sends_a_failure_notice_by_email(make_harness: MakeHarness) -> None:
    with smtp_server() as inbox:
        app = make_harness(notifications_smtp_host="127.0.0.1", notifications_smtp_port=inbox.port,
                           notifications_smtp_security="none")
        for _ in range(3):
            response = app.post(FAILED, failed("pay_2", customerEmail="jane@example.com", locale="de"),
                                event_id="pf-2")
    assert response.headers["ce-type"] == "notifications.notification-sent"
    assert reply_json(response)["notificationId"] == "fail_pay_2"
    assert reply_json(response)["recipient"] == "j***@example.com"
    [envelope] = inbox.messages
    assert envelope.rcpt_tos == ["jane@example.com"]
    content = envelope.original_content or b""
    assert b"fehlgeschlagen" in content


def test_receipt_and_failure_notice_have_different_ids(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server() as hook:
        app.post(PROCESSED, processed("pay_3", webhookUrl=hook.url + "/h"))
        app.post(FAILED, failed("pay_3", webhookUrl=hook.url + "/h"))
    assert sorted(r.headers["webhook-id"] for r in hook.requests) == ["msg_fail_pay_3", "msg_rcpt_pay_3"]


def test_nothing_to_notify_is_204(make_harness: MakeHarness) -> None:
    app = make_harness()
    response = app.post(PROCESSED, processed("pay_4"))
    assert response.status_code == 204
    assert app.publisher.events == []


def test_configured_default_recipient_is_used(make_harness: MakeHarness) -> None:
    with recording_server() as hook:
        app = make_harness(notifications_receipt_webhook_url=hook.url + "/all-receipts")
        app.post(PROCESSED, processed("pay_5"))
    assert [r.path for r in hook.requests] == ["/all-receipts"]


def test_bad_recipient_in_payment_metadata_fails_the_notification_not_the_event(make_harness: MakeHarness) -> None:
    app = make_harness()
    response = app.post(PROCESSED, processed("pay_6", webhookUrl="http://169.254.169.254/latest"))
    assert response.status_code == 200
    assert response.headers["ce-type"] == "notifications.notification-failed"
    body = reply_json(response)
    assert (body["reason"], body["attempts"]) == ("invalid_recipient", 0)
    assert "169.254.169.254/latest" not in json.dumps(body)
