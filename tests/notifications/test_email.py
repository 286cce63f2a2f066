"""Email over SMTP against a real aiosmtpd server: the received message, STARTTLS + AUTH, rejections."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from tests.notifications.harness import MakeHarness
from tests.notifications.servers import Inbox, smtp_server
from tests.support import reply_json


def smtp(inbox: Inbox, **extra: object) -> dict[str, object]:
    return {"notifications_smtp_host": "127.0.0.1", "notifications_smtp_port": inbox.port,
            "notifications_smtp_security": "none", "notifications_smtp_from": "Paymesh <billing@shop.example>",
            **extra}


def receipt(notification_id: str, to: str = "jane.doe@example.com", **extra: object) -> dict[str, object]:
    return {"notificationId": notification_id, "channel": "email", "recipient": to, "template": "receipt",
            "locale": "en", "variables": {"amount": "12.50", "currency": "EUR", "merchantId": "<b>Shop</b>",
                                          "paymentId": "pay_1"}, **extra}


def parsed(inbox: Inbox) -> EmailMessage:
    [envelope] = inbox.messages
    assert envelope.original_content is not None
    message = email.message_from_bytes(envelope.original_content, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def test_email_is_delivered_with_text_and_escaped_html(make_harness: MakeHarness) -> None:
    with smtp_server() as inbox:
        app = make_harness(**smtp(inbox))
        response = app.request(receipt("ntf_mail_1"))
    assert response.headers["ce-type"] == "notifications.notification-sent", response.data
    sent = reply_json(response)
    assert sent["recipient"] == "j***@example.com"
    assert sent["providerMessageId"] == "<ntf_mail_1@shop.example>"
    [envelope] = inbox.messages
    assert envelope.mail_from == "billing@shop.example" and envelope.rcpt_tos == ["jane.doe@example.com"]
    message = parsed(inbox)
    assert message["Subject"] == "Your payment of 12.50 EUR was received"
    assert message["Message-ID"] == "<ntf_mail_1@shop.example>"
    text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert "12.50 EUR to <b>Shop</b>" in text  # plain text is not escaped
    assert "&lt;b&gt;Shop&lt;/b&gt;" in html and "<b>Shop</b>" not in html  # HTML is autoescaped
    assert "jane.doe" not in str(app.publisher.events[0].data) + str(app.outputs("audit.notification-events"))


def test_email_over_starttls_with_auth(make_harness: MakeHarness, tmp_path: Path) -> None:
    with smtp_server(tls_dir=tmp_path, credentials=("mailer", "pa55")) as inbox:
        app = make_harness(**smtp(inbox, notifications_smtp_security="starttls", notifications_smtp_verify_tls=False,
                                  notifications_smtp_username="mailer", notifications_smtp_password="pa55"))
        response = app.request(receipt("ntf_mail_tls"))
    assert response.headers["ce-type"] == "notifications.notification-sent", response.data
    assert inbox.logins == ["mailer"] and len(inbox.messages) == 1


def test_wrong_smtp_password_is_a_permanent_failure(make_harness: MakeHarness, tmp_path: Path) -> None:
    with smtp_server(tls_dir=tmp_path, credentials=("mailer", "pa55")) as inbox:
        app = make_harness(**smtp(inbox, notifications_smtp_security="starttls", notifications_smtp_verify_tls=False,
                                  notifications_smtp_username="mailer", notifications_smtp_password="wrong"))
        response = app.request(receipt("ntf_mail_auth"))
    assert response.headers["ce-type"] == "notifications.notification-failed"
    assert reply_json(response)["reason"] == "provider_rejected"
    assert inbox.messages == []


def test_rejected_mailbox_fails_at_once(make_harness: MakeHarness) -> None:
    with smtp_server() as inbox:
        inbox.rcpt_replies = ["550 5.1.1 <nobody@example.com>: mailbox unavailable"]
        app = make_harness(**smtp(inbox))
        response = app.request(receipt("ntf_mail_550", to="nobody@example.com"))
    failed = reply_json(response)
    assert response.headers["ce-type"] == "notifications.notification-failed"
    assert (failed["reason"], failed["attempts"]) == ("provider_rejected", 1)
    assert "550" in failed["error"] and "nobody@example.com" not in failed["error"]
    assert "n***@example.com" in failed["error"]


def test_greylisting_is_retried_then_delivered(make_harness: MakeHarness) -> None:
    with smtp_server() as inbox:
        inbox.rcpt_replies = ["451 4.7.1 greylisted, try again later"]
        app = make_harness(**smtp(inbox))
        first = app.request(receipt("ntf_mail_451"), event_id="evt-mail-451")
        second = app.request(receipt("ntf_mail_451"), event_id="evt-mail-451")
    assert first.status_code == 503
    assert second.headers["ce-type"] == "notifications.notification-sent"
    assert len(inbox.messages) == 1


def test_unreachable_smtp_server_is_transient(make_harness: MakeHarness) -> None:
    with smtp_server() as inbox:
        port = inbox.port
    app = make_harness(notifications_smtp_host="127.0.0.1", notifications_smtp_port=port,
                       notifications_smtp_security="none")
    assert app.request(receipt("ntf_mail_down")).status_code == 503


def test_email_without_smtp_host_fails_as_not_configured(make_harness: MakeHarness) -> None:
    app = make_harness()
    response = app.request(receipt("ntf_mail_nohost"))
    assert reply_json(response)["reason"] == "not_configured"
