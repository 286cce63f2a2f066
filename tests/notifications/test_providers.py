"""SMS (Twilio Messages API shape) and push (FCM HTTP v1 shape) against local HTTP servers."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qs

from tests.notifications.harness import MakeHarness
from tests.notifications.servers import Api, json_api
from tests.support import reply_json

TOKEN = "fcm-device-token_0123456789:abcdefABCDEF"


def twilio(api: Api) -> dict[str, object]:
    return {"notifications_twilio_base_url": api.url, "notifications_twilio_account_sid": "AC123",
            "notifications_twilio_auth_token": "tw-secret", "notifications_twilio_from": "+15005550006"}


def fcm(api: Api) -> dict[str, object]:
    return {"notifications_fcm_base_url": api.url, "notifications_fcm_project_id": "paymesh-test",
            "notifications_fcm_access_token": "ya29.token"}


def sms(notification_id: str, to: str = "+447700900789", **extra: object) -> dict[str, object]:
    return {"notificationId": notification_id, "channel": "sms", "recipient": to, "body": "Your code is 1234",
            **extra}


def push(notification_id: str, **extra: object) -> dict[str, object]:
    return {"notificationId": notification_id, "channel": "push", "recipient": TOKEN, "template": "receipt",
            "locale": "de", "variables": {"amount": "3.00", "currency": "EUR", "merchantId": "mer_1",
                                          "paymentId": "pay_2"}, **extra}


def test_sms_is_sent_through_the_messages_api(make_harness: MakeHarness) -> None:
    with json_api(default=(201, {"sid": "SM0001", "status": "queued"})) as api:
        app = make_harness(**twilio(api))
        response = app.request(sms("ntf_sms_1"))
    assert response.headers["ce-type"] == "notifications.notification-sent", response.data
    sent = reply_json(response)
    assert (sent["recipient"], sent["providerMessageId"]) == ("+44*******789", "SM0001")
    [call] = api.calls
    assert call.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.headers["authorization"] == "Basic " + base64.b64encode(b"AC123:tw-secret").decode()
    assert parse_qs(call.body.decode()) == {"To": ["+447700900789"], "From": ["+15005550006"],
                                            "Body": ["Your code is 1234"]}


def test_sms_invalid_number_rejected_by_provider_fails_at_once(make_harness: MakeHarness) -> None:
    with json_api(default=(400, {"code": 21211, "message": "The 'To' number +447700900789 is not a valid phone "
                                 "number.", "status": 400})) as api:
        app = make_harness(**twilio(api))
        response = app.request(sms("ntf_sms_bad"))
    failed = reply_json(response)
    assert response.headers["ce-type"] == "notifications.notification-failed"
    assert failed["reason"] == "provider_rejected" and "21211" in failed["error"]
    assert "+447700900789" not in failed["error"]
    assert len(api.calls) == 1


def test_sms_rate_limited_is_retried(make_harness: MakeHarness) -> None:
    with json_api(default=(201, {"sid": "SM0002"})) as api:
        api.script = [(429, {"code": 20429, "message": "Too Many Requests"})]
        app = make_harness(**twilio(api))
        first = app.request(sms("ntf_sms_429"), event_id="evt-sms")
        second = app.request(sms("ntf_sms_429"), event_id="evt-sms")
    assert first.status_code == 503
    assert reply_json(second)["providerMessageId"] == "SM0002"


def test_sms_recipient_must_be_e164(make_harness: MakeHarness) -> None:
    app = make_harness()
    response = app.request(sms("ntf_sms_e164", to="07700 900789"))
    assert response.status_code == 422
    assert (reply_json(response)["field"], reply_json(response)["rule"]) == ("data.recipient", "e164")


def test_push_is_sent_through_fcm_v1(make_harness: MakeHarness) -> None:
    with json_api(default=(200, {"name": "projects/paymesh-test/messages/0:1500"})) as api:
        app = make_harness(**fcm(api))
        response = app.request(push("ntf_push_1"))
    assert response.headers["ce-type"] == "notifications.notification-sent", response.data
    sent = reply_json(response)
    assert sent["providerMessageId"] == "projects/paymesh-test/messages/0:1500"
    assert sent["recipient"] == "fcm-***CDEF"
    [call] = api.calls
    assert call.path == "/v1/projects/paymesh-test/messages:send"
    assert call.headers["authorization"] == "Bearer ya29.token"
    message = call.json()["message"]
    assert message["token"] == TOKEN
    assert message["notification"] == {"title": "Zahlung erhalten", "body": "3.00 EUR an mer_1"}
    assert message["data"]["notificationId"] == "ntf_push_1"


def test_push_to_unregistered_token_fails_at_once(make_harness: MakeHarness) -> None:
    error = {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                       "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                    "errorCode": "UNREGISTERED"}]}}
    with json_api(default=(404, error)) as api:
        app = make_harness(**fcm(api))
        response = app.request(push("ntf_push_gone"))
    failed = reply_json(response)
    assert response.headers["ce-type"] == "notifications.notification-failed"
    assert failed["reason"] == "provider_rejected" and "UNREGISTERED" in failed["error"]


def test_push_provider_outage_is_503_then_failed_at_the_limit(make_harness: MakeHarness) -> None:
    with json_api(default=(503, {"error": {"code": 503, "status": "UNAVAILABLE"}})) as api:
        app = make_harness(**fcm(api), notifications_max_attempts=2)
        first = app.request(push("ntf_push_down"), event_id="evt-push")
        second = app.request(push("ntf_push_down"), event_id="evt-push")
    assert first.status_code == 503
    assert reply_json(second)["reason"] == "attempts_exhausted"
    assert len(api.calls) == 2


def test_push_recipient_must_look_like_a_device_token(make_harness: MakeHarness) -> None:
    app = make_harness()
    response = app.request(push("ntf_push_bad", recipient="short"))
    assert (response.status_code, reply_json(response)["rule"]) == (422, "device_token")


def test_a_failing_sms_provider_opens_its_breaker_then_a_probe_closes_it(make_harness: MakeHarness) -> None:
    with json_api(default=(503, {"status": 503})) as api:
        app = make_harness(**twilio(api), notifications_provider_breaker_failures=2,
                           notifications_provider_breaker_cooldown_seconds=0.3)
        statuses = [app.request(sms(f"ntf_brk_{n}")).status_code for n in range(4)]
        assert statuses == [503] * 4
        assert len(api.calls) == 2  # the breaker opened after two failures: the others never reached Twilio
        time.sleep(0.35)
        api.default = (201, {"sid": "SM0042", "status": "queued"})
        probe = app.request(sms("ntf_brk_2"))  # Knative's redelivery after the cooldown is the probe
        assert probe.headers["ce-type"] == "notifications.notification-sent", probe.data
        assert app.request(sms("ntf_brk_3")).headers["ce-type"] == "notifications.notification-sent"
        assert len(api.calls) == 4
