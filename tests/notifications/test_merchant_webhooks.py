"""Merchant webhooks (issue 17): fan-out to registered endpoints, signed per Standard Webhooks (checked with
the standardwebhooks and svix packages), at least once with a stable webhook-id, retried by PingSource ticks,
never again after a 2xx; rotation, rate limit, circuit breaker and disabling. Real HTTP servers on loopback.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from functions.notifications.app import build_spec
from functions.notifications.settings import NotificationsSettings
from shared.publish import MemoryPublisher
from tests.notifications.harness import MakeHarness
from tests.notifications.webhook_support import (
    PAYMENT_FAILED,
    PING,
    PING_SOURCE,
    PROCESSED,
    attempts,
    payment_failed,
    processed,
    register,
    tick,
    verify,
)
from tests.support import build_app, flask_client, post_event, reply_json
from tests.support.http_recorder import QuietHandler, recording_server, serving

OK = {200, 204}  # 204: the event caused no output event
FAST = {"notifications_webhook_retry_schedule": "0.3,0.3"}


def metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_outcome_goes_to_every_subscribed_endpoint_of_its_merchant_signed(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server(200) as both, recording_server(200) as failures_only, recording_server(200) as other:
        first = register(app, both.url + "/hooks?t=1")
        second = register(app, failures_only.url + "/f", event_types=[PAYMENT_FAILED])
        register(app, other.url + "/o", merchant_id="mer_2")
        assert app.post(PROCESSED, processed("pay_1"), event_id="e1").status_code in OK
        assert app.post(PAYMENT_FAILED, payment_failed("pay_2"), event_id="e2").status_code in OK
        assert app.post(PROCESSED, processed("pay_1"), event_id="e1").status_code in OK  # redelivered
        tick(app)
    assert other.requests == []
    assert [json.loads(r.body)["type"] for r in both.requests] == [PROCESSED, PAYMENT_FAILED]
    [failure] = failures_only.requests
    assert both.requests[0].path == "/hooks?t=1"
    payload = verify(first["secret"], both.requests[0])
    assert payload["data"]["paymentId"] == "pay_1" and payload["data"]["amount"] == "20.00"
    assert set(payload) == {"type", "timestamp", "data"}
    assert verify(second["secret"], failure)["data"]["reason"] == "card_declined"
    with pytest.raises(WebhookVerificationError):
        verify(first["secret"], failure)
    assert both.requests[1].headers["webhook-id"] != failure.headers["webhook-id"]


def test_endpoint_down_then_up_is_delivered_once_by_a_tick_with_the_same_webhook_id(
        make_harness: MakeHarness) -> None:
    app = make_harness(**FAST)
    with recording_server(200) as hook:
        hook.statuses = [503]
        endpoint = register(app, hook.url + "/h")
        response = app.post(PROCESSED, processed("pay_1"), event_id="e1")
        assert response.status_code in OK  # a failed webhook is not a failed Kafka delivery
        tick(app)  # not due yet
        assert len(hook.requests) == 1
        time.sleep(0.4)
        tick(app)
        assert app.post(PROCESSED, processed("pay_1"), event_id="e1").status_code in OK  # redelivered
        time.sleep(0.4)
        tick(app)
        tick(app)
    assert [r.status for r in hook.requests] == [503, 200]
    ids = {r.headers["webhook-id"] for r in hook.requests}
    assert len(ids) == 1
    verify(endpoint["secret"], hook.requests[1])
    [message_id] = ids
    listed = attempts(app, message_id)
    assert [(a["status"], a["responseStatus"]) for a in listed] == [("failed", 503), ("delivered", 200)]
    assert all(isinstance(a["durationMs"], int) for a in listed) and "error" in listed[0]
    messages = reply_json(app.client.get(f"/endpoints/{endpoint['id']}/messages?status=delivered"))["messages"]
    assert [m["id"] for m in messages] == [message_id]


def test_retry_after_is_honoured(make_harness: MakeHarness) -> None:
    app = make_harness(notifications_webhook_retry_schedule="0.1,0.1")
    calls: list[str] = []

    class Busy(QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append(self.headers["webhook-id"])
            self.send_response(429)
            self.send_header("Retry-After", "3600")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serving(Busy) as url:
        endpoint = register(app, url + "/h")
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        time.sleep(0.3)
        tick(app)  # due by the schedule, but the endpoint asked for an hour
    assert len(calls) == 1
    [message] = reply_json(app.client.get(f"/endpoints/{endpoint['id']}/messages"))["messages"]
    wait = datetime.fromisoformat(message["nextAttemptAt"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < wait <= timedelta(hours=1)


def test_schedule_used_up_fails_the_message_and_recover_sends_it_again(make_harness: MakeHarness) -> None:
    app = make_harness(notifications_webhook_retry_schedule="0.2")
    with recording_server(500) as hook:
        endpoint = register(app, hook.url + "/h")
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        time.sleep(0.3)
        tick(app)
        failed = app.outputs("notifications.notification-failed")
        assert [f["reason"] for f in failed] == ["attempts_exhausted"]
        assert failed[0]["recipient"] == hook.url + "/***"  # masked: paths and queries may hold secrets
        audits = [a for a in app.outputs("audit.notification-events") if a["action"] == "webhook.failed"]
        assert len(audits) == 1
        hook.default_status = 200
        tick(app)
        assert len(hook.requests) == 2
        since = "2000-01-01T00:00:00Z"
        response = app.client.post(f"/endpoints/{endpoint['id']}/recover?since={since}")
        assert response.status_code == 202 and reply_json(response)["scheduled"] == 1
        tick(app)
    assert [r.status for r in hook.requests] == [500, 500, 200]


def test_replay_sends_a_delivered_message_again_with_its_webhook_id(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server(200) as hook:
        register(app, hook.url + "/h")
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        message_id = hook.requests[0].headers["webhook-id"]
        assert app.client.post(f"/messages/{message_id}/replay").status_code == 202
        tick(app)
        tick(app)
    assert [r.headers["webhook-id"] for r in hook.requests] == [message_id, message_id]


def test_during_a_rotation_a_delivery_verifies_with_either_secret(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server(200) as hook:
        endpoint = register(app, hook.url + "/h")
        rotated = app.client.post(f"/endpoints/{endpoint['id']}/rotate-secret")
        assert rotated.status_code == 200
        new_secret = reply_json(rotated)["secret"]
        assert new_secret.startswith("whsec_") and new_secret != endpoint["secret"]
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
    [request] = hook.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verify(new_secret, request)
    verify(endpoint["secret"], request)


def test_after_the_overlap_only_the_new_secret_signs(make_harness: MakeHarness) -> None:
    app = make_harness(notifications_webhook_secret_overlap_seconds=0.01)
    with recording_server(200) as hook:
        endpoint = register(app, hook.url + "/h")
        new_secret = reply_json(app.client.post(f"/endpoints/{endpoint['id']}/rotate-secret"))["secret"]
        time.sleep(0.05)
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
    verify(new_secret, hook.requests[0])
    with pytest.raises(WebhookVerificationError):
        verify(endpoint["secret"], hook.requests[0])


def test_rate_limit_defers_to_the_next_tick_visible_in_attempts_and_metrics(make_harness: MakeHarness) -> None:
    app = make_harness()
    before = metric("notifications_webhook_attempts_total", outcome="rate_limited")
    with recording_server(200) as hook:
        register(app, hook.url + "/h", rateLimitPerSecond=1)
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        app.post(PROCESSED, processed("pay_2"), event_id="e2")
        assert len(hook.requests) == 1
        time.sleep(1.1)
        tick(app)
    assert len(hook.requests) == 2
    second = hook.requests[1].headers["webhook-id"]
    assert [a["status"] for a in attempts(app, second)] == ["rate_limited", "delivered"]
    assert metric("notifications_webhook_attempts_total", outcome="rate_limited") == before + 1


def test_open_breaker_spares_a_dead_endpoint_and_a_probe_closes_it(make_harness: MakeHarness) -> None:
    app = make_harness(notifications_webhook_breaker_failures=2, notifications_webhook_breaker_cooldown_seconds=0.5,
                       notifications_webhook_retry_schedule="0.1,0.1,0.1,0.1")
    before = metric("notifications_webhook_attempts_total", outcome="breaker_open")
    with recording_server(503) as hook:
        endpoint = register(app, hook.url + "/h")
        for number in range(3):
            app.post(PROCESSED, processed(f"pay_{number}"), event_id=f"e{number}")
        assert len(hook.requests) == 2  # the third was not sent: the breaker opened after two failures
        shown = reply_json(app.client.get(f"/endpoints/{endpoint['id']}"))
        assert shown["circuit"] == "open" and "secret" not in shown
        hook.default_status = 200
        time.sleep(0.6)
        tick(app)  # one probe goes out; it succeeds and closes the breaker for the rest
    assert metric("notifications_webhook_attempts_total", outcome="breaker_open") >= before + 1
    assert [r.status for r in hook.requests][:2] == [503, 503]
    assert len({r.headers["webhook-id"] for r in hook.requests if r.status == 200}) == 3
    assert reply_json(app.client.get(f"/endpoints/{endpoint['id']}"))["circuit"] == "closed"


def test_endpoint_failing_for_the_window_is_disabled_with_audit_and_email(make_harness: MakeHarness) -> None:
    from tests.notifications.servers import smtp_server

    with smtp_server() as inbox, recording_server(500) as hook:
        app = make_harness(notifications_endpoint_disable_after=0.2, notifications_smtp_host="127.0.0.1",
                           notifications_smtp_port=inbox.port, notifications_smtp_security="none",
                           notifications_webhook_retry_schedule="0.1,0.1,0.1,0.1,0.1")
        endpoint = register(app, hook.url + "/h", contactEmail="ops@merchant.example")
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        time.sleep(0.3)
        tick(app)
        shown = reply_json(app.client.get(f"/endpoints/{endpoint['id']}"))
        assert shown["status"] == "disabled"
        app.post(PROCESSED, processed("pay_2"), event_id="e2")  # not sent to a disabled endpoint
        assert len(hook.requests) == 2
        [mail] = inbox.messages
        assert mail.rcpt_tos == ["ops@merchant.example"]
        audits = [a["action"] for a in app.outputs("audit.notification-events")]
        assert "webhook-endpoint.disabled" in audits
        hook.default_status = 200
        assert app.client.post(f"/endpoints/{endpoint['id']}/enable").status_code == 200
        app.post(PROCESSED, processed("pay_3"), event_id="e3")
    assert [r.status for r in hook.requests] == [500, 500, 200]


def test_scheduled_retries_survive_a_restart(make_harness: MakeHarness) -> None:
    app = make_harness(**FAST)
    with recording_server(200) as hook:
        hook.statuses = [503]
        register(app, hook.url + "/h")
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        # a new process on the same store (the first one is gone): the retry is in the store
        settings = NotificationsSettings(notifications_webhook_allow_hosts="127.0.0.1", **FAST)
        restarted = flask_client(build_app(build_spec(settings), app.store, settings, MemoryPublisher()))
        time.sleep(0.4)
        assert post_event(restarted, PING, {}, source=PING_SOURCE).status_code in {200, 204}
    assert [r.status for r in hook.requests] == [503, 200]


def test_an_unreachable_endpoint_fails_without_its_url_token_anywhere(make_harness: MakeHarness) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_harness(notifications_webhook_retry_schedule="0.05")
    endpoint = register(app, f"http://127.0.0.1:{port}/hook?token=s3cret-t0ken")
    app.post(PROCESSED, processed("pay_1"), event_id="e1")
    time.sleep(0.1)
    tick(app)
    [message] = reply_json(app.client.get(f"/endpoints/{endpoint['id']}/messages?status=failed"))["messages"]
    listed = attempts(app, message["id"])
    assert [a["status"] for a in listed] == ["failed", "failed"] and listed[0]["responseStatus"] is None
    published = json.dumps([event.data for event in app.publisher.events])
    assert "s3cret-t0ken" not in json.dumps(listed) + published + json.dumps(message)
    assert "notifications.notification-failed" in [event.type for event in app.publisher.events]


def test_deleting_an_endpoint_stops_its_pending_messages_quietly(make_harness: MakeHarness) -> None:
    app = make_harness(**FAST)
    with recording_server(503) as hook:
        endpoint = register(app, hook.url + "/h")
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        message_id = hook.requests[0].headers["webhook-id"]
        assert app.client.delete(f"/endpoints/{endpoint['id']}").status_code == 200
        time.sleep(0.4)
        tick(app)
    assert len(hook.requests) == 1
    assert [a["status"] for a in attempts(app, message_id)] == ["failed"]
    assert app.outputs("notifications.notification-failed") == []


def test_a_message_left_claimed_by_a_crash_is_sent_after_its_lease(make_harness: MakeHarness) -> None:
    from datetime import UTC, datetime

    from functions.notifications.repository import MessageRecord, WebhookRepository

    app = make_harness(notifications_webhook_lease_seconds=0.3)
    with recording_server(200) as hook:
        endpoint = register(app, hook.url + "/h")
        now = datetime.now(UTC)
        # what a process that died between committing the message and sending it leaves behind
        payload = json.dumps({"type": PROCESSED, "timestamp": now.isoformat(), "data": processed("pay_9")})
        with app.store.session() as session:
            WebhookRepository(session).insert_message(MessageRecord(
                id="msg_crashed", endpoint_id=endpoint["id"], event_type=PROCESSED, payload=payload,
                status="pending", step=0, next_attempt_at=now + timedelta(seconds=0.3), last_error=None,
                created_at=now, updated_at=now))
        tick(app)  # still leased: the dead process might be sending
        assert hook.requests == []
        time.sleep(0.4)
        tick(app)
        tick(app)
    [request] = hook.requests
    assert request.headers["webhook-id"] == "msg_crashed"
    assert verify(endpoint["secret"], request)["data"]["paymentId"] == "pay_9"


def test_concurrent_ticks_send_each_due_message_once(make_harness: MakeHarness, backend: str) -> None:
    import threading

    if backend != "postgres":
        pytest.skip("row-level concurrency: PostgreSQL")
    app = make_harness(notifications_webhook_retry_schedule="0.2", notifications_webhook_breaker_failures=100)
    with recording_server(200) as hook:
        hook.statuses = [500] * 12
        register(app, hook.url + "/h")
        for number in range(12):
            app.post(PROCESSED, processed(f"pay_{number}"), event_id=f"e{number}")
        time.sleep(0.3)
        threads = [threading.Thread(target=tick, args=(app,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    delivered = [r.headers["webhook-id"] for r in hook.requests if r.status == 200]
    assert len(delivered) == len(set(delivered)) == 12


def test_the_ssrf_guard_runs_again_at_every_send(make_harness: MakeHarness) -> None:
    app = make_harness(**FAST)
    with recording_server(200) as hook:
        hook.statuses = [503]
        register(app, hook.url + "/h")  # allowed: 127.0.0.1 is allow-listed here
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        # the same store served with loopback no longer allow-listed (e.g. the setting was corrected)
        settings = NotificationsSettings(notifications_webhook_allow_hosts="", **FAST)
        strict = flask_client(build_app(build_spec(settings), app.store, settings, MemoryPublisher()))
        time.sleep(0.4)
        post_event(strict, PING, {}, source=PING_SOURCE)
    assert len(hook.requests) == 1
    message_id = hook.requests[0].headers["webhook-id"]
    last = attempts(app, message_id)[-1]
    assert last["status"] == "failed" and last["responseStatus"] is None and "refused" in last["error"]


def test_the_reply_to_a_payment_event_stays_its_receipt(make_harness: MakeHarness) -> None:
    app = make_harness(notifications_endpoint_disable_after=0.1)
    with recording_server(500) as merchant, recording_server(200) as customer:
        register(app, merchant.url + "/h")
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        time.sleep(0.2)
        data = {**processed("pay_2"), "metadata": {"webhookUrl": customer.url + "/r"}}
        response = app.post(PROCESSED, data, event_id="e2")  # its webhook failure disables the endpoint
    assert response.headers["ce-type"] == "notifications.notification-sent"
    assert reply_json(response)["notificationId"] == "rcpt_pay_2"
    assert "webhook-endpoint.disabled" in [a["action"] for a in app.outputs("audit.notification-events")]
