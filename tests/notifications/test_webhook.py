"""Webhooks: signed per Standard Webhooks (checked with the `standardwebhooks` package), SSRF-guarded,
retried on transient failures up to the limit, and sent once per notification id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook

from functions.notifications.models import DeliveryAttempt, Notification
from tests.notifications.harness import SECRET, MakeHarness
from tests.support import reply_json
from tests.support.http_recorder import recording_server

SENT = "notifications.notification-sent"
FAILED = "notifications.notification-failed"
AUDIT = "audit.notification-events"


def webhook(notification_id: str, url: str, **extra: object) -> dict[str, object]:
    return {"notificationId": notification_id, "channel": "webhook", "recipient": url,
            "subject": "Order shipped", "body": "Your order left the warehouse", **extra}


def test_webhook_is_signed_per_standard_webhooks(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server(default_status=204) as hook:
        response = app.request(webhook("ntf_1", hook.url + "/hooks/orders?token=s3cret",
                                       metadata={"data": {"orderId": "ord_9"}}))
    assert response.status_code == 200, response.data
    assert response.headers["ce-type"] == SENT
    [request] = hook.requests
    assert request.path == "/hooks/orders?token=s3cret"
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "notification.message"
    assert payload["data"] == {"notificationId": "ntf_1", "orderId": "ord_9",
                               "message": "Your order left the warehouse", "subject": "Order shipped"}
    assert request.headers["webhook-id"] == "msg_ntf_1"
    sent = reply_json(response)
    assert sent["recipient"] == f"{hook.url}/***"
    assert sent["providerMessageId"] == "msg_ntf_1" and sent["attempts"] == 1
    [audit] = app.outputs(AUDIT)
    assert audit["action"] == "notification.sent" and audit["subject"] == "ntf_1"
    assert "s3cret" not in json.dumps(app.publisher.events[0].data) + json.dumps(audit)
    journal = app.journal("ntf_1")
    assert journal["status"] == "sent"
    assert [a["status"] for a in journal["deliveryAttempts"]] == ["sent"]


def test_a_tampered_body_fails_verification(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server(default_status=200) as hook:
        app.request(webhook("ntf_2", hook.url + "/h"))
    [request] = hook.requests
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(request.body.replace(b"warehouse", b"Warehouse"), request.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)


def test_three_redeliveries_send_once(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server(default_status=204) as hook:
        replies = [app.request(webhook("ntf_3", hook.url + "/h"), event_id="evt-3") for _ in range(3)]
        # A different event asking for the same notification id does not send it again either.
        other = app.request(webhook("ntf_3", hook.url + "/h"), event_id="evt-3b")
    assert [reply.status_code for reply in replies] == [200, 200, 200]
    assert len({reply.data for reply in replies}) == 1
    assert other.status_code == 204
    assert len(hook.requests) == 1
    assert app.journal("ntf_3")["attempts"] == 1


@pytest.mark.parametrize(("url", "rule"), [
    ("https://10.0.0.8/hook", "public_address"),
    ("https://127.0.0.1:8443/hook", "public_address"),
    ("https://169.254.169.254/latest/meta-data", "public_address"),
    ("https://[::1]/hook", "public_address"),
    ("https://[::ffff:192.168.1.1]/hook", "public_address"),
    ("https://[fe80::1]/hook", "public_address"),
    ("http://example.com/hook", "https"),
    ("ftp://example.com/hook", "url"),
    ("https://user:pw@example.com/hook", "url"),
    ("not a url", "url"),
])
def test_ssrf_guard_refuses_private_targets_and_plain_http(make_harness: MakeHarness, url: str, rule: str) -> None:
    app = make_harness(notifications_webhook_allow_hosts="")
    response = app.request(webhook("ntf_ssrf", url))
    assert response.status_code == 422, response.data
    body = reply_json(response)
    assert (body["field"], body["rule"]) == ("data.recipient", rule)
    assert app.publisher.events == []


def test_ssrf_guard_checks_what_a_host_name_resolves_to(make_harness: MakeHarness) -> None:
    """`localhost` and a decimal-encoded 127.0.0.1 pass the literal check but resolve to loopback."""
    app = make_harness(notifications_webhook_allow_hosts="")
    with recording_server() as hook:
        port = hook.url.rsplit(":", 1)[1]
        first = app.request(webhook("ntf_dns_1", f"https://localhost:{port}/hook"))
        second = app.request(webhook("ntf_dns_2", f"https://2130706433:{port}/hook"))
    assert hook.requests == []
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["ce-type"] == FAILED
        assert reply_json(response)["reason"] == "blocked_destination"


def test_allow_listed_host_may_be_private_and_plain_http(make_harness: MakeHarness) -> None:
    app = make_harness(notifications_webhook_allow_hosts="hooks.internal, 127.0.0.1")
    with recording_server(default_status=200) as hook:
        response = app.request(webhook("ntf_allowed", hook.url + "/h"))
    assert response.headers["ce-type"] == SENT
    assert len(hook.requests) == 1


def test_permanent_rejection_fails_at_once(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server(default_status=410) as hook:
        response = app.request(webhook("ntf_gone", hook.url + "/h"))
    assert response.status_code == 200
    failed = reply_json(response)
    assert response.headers["ce-type"] == FAILED
    assert (failed["reason"], failed["attempts"]) == ("provider_rejected", 1)
    assert "410" in failed["error"]
    [audit] = app.outputs(AUDIT)
    assert (audit["action"], audit["outcome"]) == ("notification.failed", "failure")


def test_transient_failure_is_503_until_the_attempt_limit(make_harness: MakeHarness) -> None:
    app = make_harness(notifications_max_attempts=3)
    with recording_server(default_status=503) as hook:
        statuses = [app.request(webhook("ntf_flaky", hook.url + "/h"), event_id="evt-flaky").status_code
                    for _ in range(2)]
        last = app.request(webhook("ntf_flaky", hook.url + "/h"), event_id="evt-flaky")
        after = app.request(webhook("ntf_flaky", hook.url + "/h"), event_id="evt-flaky")
    assert statuses == [503, 503]
    assert last.status_code == 200 and last.headers["ce-type"] == FAILED
    failed = reply_json(last)
    assert (failed["reason"], failed["attempts"]) == ("attempts_exhausted", 3)
    assert "503" in failed["error"]
    assert after.data == last.data
    assert len(hook.requests) == 3
    journal = app.journal("ntf_flaky")
    assert [a["status"] for a in journal["deliveryAttempts"]] == ["transient_error"] * 3


def test_transient_failure_then_success(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server(default_status=200) as hook:
        hook.statuses = [502]
        first = app.request(webhook("ntf_retry", hook.url + "/h"), event_id="evt-retry")
        second = app.request(webhook("ntf_retry", hook.url + "/h"), event_id="evt-retry")
    assert first.status_code == 503
    assert second.headers["ce-type"] == SENT and reply_json(second)["attempts"] == 2
    assert [r.headers["webhook-id"] for r in hook.requests] == ["msg_ntf_retry"] * 2


def test_unreachable_endpoint_is_transient(make_harness: MakeHarness) -> None:
    with recording_server() as hook:
        url = hook.url
    app = make_harness()
    response = app.request(webhook("ntf_down", url + "/h"))
    assert response.status_code == 503


def _interrupted(app_store: object, notification_id: str, started: datetime) -> None:
    """The journal as a crash between send and record leaves it: claimed, attempt in flight."""
    from shared.store import Store

    assert isinstance(app_store, Store)
    with Session(app_store.engine) as session:
        session.add(Notification(notification_id=notification_id, channel="webhook", recipient_masked="x",
                                 locale="en", status="sending", attempts=1, created_at=started, updated_at=started))
        session.add(DeliveryAttempt(notification_id=notification_id, number=1, channel="webhook",
                                    status="sending", started_at=started))
        session.commit()


def test_redelivery_after_a_crash_between_send_and_record_does_not_send_again(make_harness: MakeHarness) -> None:
    app = make_harness()
    _interrupted(app.store, "ntf_crash", datetime.now(UTC) - timedelta(hours=1))
    with recording_server(default_status=200) as hook:
        response = app.request(webhook("ntf_crash", hook.url + "/h"))
    assert hook.requests == []
    assert response.headers["ce-type"] == FAILED
    assert reply_json(response)["reason"] == "delivery_unknown"
    assert [a["status"] for a in app.journal("ntf_crash")["deliveryAttempts"]] == ["unknown"]


def test_delivery_in_flight_elsewhere_is_retried_later(make_harness: MakeHarness) -> None:
    app = make_harness()
    _interrupted(app.store, "ntf_busy", datetime.now(UTC))
    with recording_server(default_status=200) as hook:
        response = app.request(webhook("ntf_busy", hook.url + "/h"))
    assert response.status_code == 503
    assert hook.requests == []


def test_missing_secret_fails_the_notification(make_harness: MakeHarness) -> None:
    app = make_harness(notifications_webhook_secret=None)
    with recording_server() as hook:
        response = app.request(webhook("ntf_nosecret", hook.url + "/h"))
    assert hook.requests == []
    assert reply_json(response)["reason"] == "not_configured"


def test_malformed_secret_is_a_configuration_error() -> None:
    from pydantic import ValidationError

    from functions.notifications.settings import NotificationsSettings

    with pytest.raises(ValidationError, match="whsec_"):
        NotificationsSettings(notifications_webhook_secret="not-a-secret")


def test_metrics_count_sent_and_failed_per_channel(make_harness: MakeHarness) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    app = make_harness()
    sent_before = value("notifications_sent_total", channel="webhook")
    failed_before = value("notifications_failed_total", channel="webhook", reason="provider_rejected")
    with recording_server(default_status=200) as hook:
        app.request(webhook("ntf_m1", hook.url + "/h"))
        hook.default_status = 400
        app.request(webhook("ntf_m2", hook.url + "/h"))
    assert value("notifications_sent_total", channel="webhook") == sent_before + 1
    assert value("notifications_failed_total", channel="webhook", reason="provider_rejected") == failed_before + 1
    exposed = app.client.get("/metrics").data.decode()
    assert 'notifications_sent_total{channel="webhook"}' in exposed
