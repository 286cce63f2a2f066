"""The local provider sandbox (paymesh/local/sandbox.py): SMTP plus Twilio- and FCM-shaped APIs that the
notifications function's own channel code delivers to, with GET /outbox and <home>/outbox.jsonl."""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from functions.notifications.app import NotificationsSettings, channels
from functions.notifications.channels import Delivered, Message, Undelivered
from paymesh.local.sandbox import OUTBOX_FILE, Sandbox, start_sandbox
from tests.notifications.harness import harness_factory
from tests.support import reply_json

TOKEN = "fcm-device-token_0123456789:abcdefABCDEF"
SID = re.compile(r"^SM[0-9a-f]{32}$")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = Sandbox(tmp_path).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def settings(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> NotificationsSettings:
    """The notifications settings as the function reads them from the environment LocalSet passes."""
    for name, value in sandbox.environment().items():
        monkeypatch.setenv(name, value)
    return NotificationsSettings()


def message(channel: str, recipient: str, notification_id: str = "ntf_1") -> Message:
    return Message(notification_id=notification_id, channel=channel, recipient=recipient, text="Hello there",
                   subject="Greetings", html="<p>Hello there</p>", kind="payment.succeeded",
                   data={"paymentId": "pay_1"})


def outbox(sandbox: Sandbox, channel: str | None = None) -> list[dict[str, object]]:
    response = httpx.get(sandbox.outbox_url, params={"channel": channel} if channel else None, timeout=5)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_every_channel_delivers_through_the_function_s_channel_code(sandbox: Sandbox,
                                                                     settings: NotificationsSettings) -> None:
    chosen = channels(settings)
    assert {name: chosen[name].configured() for name in ("email", "sms", "push")} == \
        {"email": None, "sms": None, "push": None}
    email = chosen["email"].send(message("email", "jane.doe@example.com", "ntf_mail"))
    sms = chosen["sms"].send(message("sms", "+447700900789", "ntf_sms"))
    push = chosen["push"].send(message("push", TOKEN, "ntf_push"))
    assert email == Delivered("<ntf_mail@paymesh.local>")
    assert isinstance(sms, Delivered) and SID.match(sms.provider_message_id or ""), sms
    assert isinstance(push, Delivered) and re.match(r"^projects/paymesh-sandbox/messages/0:\d+%[0-9a-f]+$",
                                                    push.provider_message_id or ""), push

    items = outbox(sandbox)
    assert [item["channel"] for item in items] == ["email", "sms", "push"]  # newest last
    mail, text, note = items
    assert (mail["id"], mail["from"], mail["to"], mail["subject"], mail["body"], mail["html"]) == (
        "<ntf_mail@paymesh.local>", "paymesh <no-reply@paymesh.local>", ["jane.doe@example.com"], "Greetings",
        "Hello there", "<p>Hello there</p>")
    assert (text["id"], text["from"], text["to"], text["body"]) == (
        sms.provider_message_id, "+15005550006", "+447700900789", "Hello there")
    assert (note["id"], note["token"], note["title"], note["body"]) == (
        push.provider_message_id, TOKEN, "Greetings", "Hello there")
    assert note["data"] == {"notificationId": "ntf_push", "kind": "payment.succeeded", "paymentId": "pay_1"}
    assert [item["channel"] for item in outbox(sandbox, "sms")] == ["sms"]
    lines = (sandbox.home or Path()).joinpath(OUTBOX_FILE).read_text().splitlines()
    assert [json.loads(line) for line in lines] == items


def test_the_notifications_function_sends_every_channel_to_the_sandbox(sandbox: Sandbox, tmp_path: Path,
                                                                       settings: NotificationsSettings) -> None:
    """The served function path (templates, journal, notification-sent) with the sandbox's settings."""
    overrides = {name: value for name, value in settings.model_dump().items()
                 if name.startswith(("notifications_smtp", "notifications_twilio", "notifications_fcm"))}
    factory = harness_factory("sqlite", tmp_path / "stores")
    (tmp_path / "stores").mkdir()
    make = next(factory)
    try:
        app = make(**overrides)
        variables = {"amount": "3.00", "currency": "EUR", "merchantId": "mer_1", "paymentId": "pay_2"}
        ids = {}
        for channel, recipient in (("email", "jane.doe@example.com"), ("sms", "+447700900789"), ("push", TOKEN)):
            response = app.request({"notificationId": f"ntf_{channel}", "channel": channel, "recipient": recipient,
                                    "template": "receipt", "locale": "de", "variables": variables})
            assert response.headers["ce-type"] == "notifications.notification-sent", response.data
            ids[channel] = reply_json(response)["providerMessageId"]
    finally:
        factory.close()
    received = {item["channel"]: item for item in outbox(sandbox)}
    assert {channel: received[channel]["id"] for channel in ids} == ids
    assert received["push"]["title"] == "Zahlung erhalten" and received["push"]["body"] == "3.00 EUR an mer_1"
    assert "3.00 EUR" in str(received["email"]["body"]) and "3.00 EUR" in str(received["sms"]["body"])


def test_provider_errors_come_back_in_the_provider_shapes(sandbox: Sandbox, settings: NotificationsSettings) -> None:
    chosen = channels(settings)
    invalid = chosen["sms"].send(message("sms", "+15005550001"))  # Twilio's never-valid test number
    assert isinstance(invalid, Undelivered) and invalid.permanent and "code 21211" in invalid.error, invalid
    bad_token = channels(settings.model_copy(update={"notifications_twilio_auth_token": "wrong"}))["sms"]
    refused = bad_token.send(message("sms", "+447700900789"))
    assert isinstance(refused, Undelivered) and "401" in refused.error and "20003" in refused.error, refused
    unauthenticated = channels(settings.model_copy(update={"notifications_fcm_access_token": "ya29.x"}))["push"]
    denied = unauthenticated.send(message("push", TOKEN))
    assert isinstance(denied, Undelivered) and "UNAUTHENTICATED" in denied.error, denied
    other_project = channels(settings.model_copy(update={"notifications_fcm_project_id": "someone-else"}))["push"]
    forbidden = other_project.send(message("push", TOKEN))
    assert isinstance(forbidden, Undelivered) and "403" in forbidden.error, forbidden
    assert outbox(sandbox) == []


def test_the_http_answers_look_like_twilio_and_fcm(sandbox: Sandbox) -> None:
    auth = "Basic " + base64.b64encode(f"{sandbox.account_sid}:{sandbox.auth_token}".encode()).decode()
    created = httpx.post(f"{sandbox.url}/2010-04-01/Accounts/{sandbox.account_sid}/Messages.json",
                         data={"To": "+447700900123", "MessagingServiceSid": "MG123", "Body": "hi"},
                         headers={"Authorization": auth})
    assert created.status_code == 201
    body = created.json()
    assert SID.match(body["sid"]) and body["status"] == "accepted" and body["to"] == "+447700900123"
    assert body["uri"] == f"/2010-04-01/Accounts/{sandbox.account_sid}/Messages/{body['sid']}.json"
    missing = httpx.post(f"{sandbox.url}/2010-04-01/Accounts/{sandbox.account_sid}/Messages.json",
                         data={"To": "+447700900123", "From": "+15005550006"}, headers={"Authorization": auth})
    assert (missing.status_code, missing.json()["code"]) == (400, 21602)
    push = f"{sandbox.url}/v1/projects/{sandbox.project_id}/messages:send"
    bearer = {"Authorization": f"Bearer {sandbox.access_token}"}
    dry = httpx.post(push, json={"validate_only": True, "message": {"token": TOKEN}}, headers=bearer)
    assert dry.json() == {"name": f"projects/{sandbox.project_id}/messages/fake_message_id"}
    two_targets = httpx.post(push, json={"message": {"token": TOKEN, "topic": "news"}}, headers=bearer)
    assert two_targets.status_code == 400
    assert two_targets.json()["error"]["details"][0]["errorCode"] == "INVALID_ARGUMENT"
    listing = httpx.get(sandbox.outbox_url).json()
    assert (listing["count"], listing["counts"]) == (1, {"email": 0, "sms": 1, "push": 0})
    assert httpx.get(sandbox.outbox_url, params={"channel": "fax"}).status_code == 400
    assert httpx.get(f"{sandbox.url}/nope").status_code == 404


def test_without_aiosmtpd_email_is_skipped_with_a_start_up_line(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiosmtpd.controller", None)  # import fails as if not installed
    lines: list[str] = []
    running = start_sandbox(tmp_path, lines.append)
    try:
        environment = running.environment()
    finally:
        running.stop()
    assert not running.email_enabled
    assert "PAYMESH_NOTIFICATIONS_SMTP_HOST" not in environment
    assert environment["PAYMESH_NOTIFICATIONS_TWILIO_BASE_URL"] == running.url
    assert any("email skipped" in line and "aiosmtpd" in line for line in lines), lines
    assert any(running.outbox_url in line for line in lines), lines


def test_paymesh_up_has_a_no_sandbox_switch() -> None:
    from typer.testing import CliRunner

    from paymesh.cli import app

    result = CliRunner().invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--no-sandbox" in result.output, result.output
