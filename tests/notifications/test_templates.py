"""Templates are files per (name, channel, locale), with a fallback locale; a missing variable is a 422."""

from __future__ import annotations

import pytest

from functions.notifications.templates import Templates, VariableMissingError
from tests.notifications.harness import MakeHarness
from tests.support import reply_json
from tests.support.http_recorder import recording_server

VARIABLES = {"amount": "9.99", "currency": "GBP", "merchantId": "mer_7", "paymentId": "pay_42", "reason": "expired"}
EXPECTED = {
    ("receipt", "email", "en"): ("Your payment of 9.99 GBP was received", "we received your payment of 9.99 GBP"),
    ("receipt", "email", "de"): ("Ihre Zahlung über 9.99 GBP ist eingegangen", "wir haben Ihre Zahlung über 9.99"),
    ("receipt", "sms", "en"): (None, "Payment of 9.99 GBP to mer_7 received. Ref pay_42"),
    ("receipt", "sms", "de"): (None, "Zahlung über 9.99 GBP an mer_7 erhalten. Ref. pay_42"),
    ("receipt", "push", "en"): ("Payment received", "9.99 GBP to mer_7"),
    ("receipt", "push", "de"): ("Zahlung erhalten", "9.99 GBP an mer_7"),
    ("receipt", "webhook", "en"): ("Payment received", "Payment pay_42 of 9.99 GBP was captured."),
    ("receipt", "webhook", "de"): ("Zahlung erhalten", "Zahlung pay_42 über 9.99 GBP wurde verbucht."),
    ("payment_failed", "email", "en"): ("Your payment of 9.99 GBP did not go through", "could not be completed (expired)"),
    ("payment_failed", "email", "de"): ("Ihre Zahlung über 9.99 GBP ist fehlgeschlagen", "(expired)"),
    ("payment_failed", "sms", "en"): (None, "Payment of 9.99 GBP to mer_7 failed (expired). Ref pay_42"),
    ("payment_failed", "sms", "de"): (None, "Zahlung über 9.99 GBP an mer_7 fehlgeschlagen (expired). Ref. pay_42"),
    ("payment_failed", "push", "en"): ("Payment failed", "9.99 GBP to mer_7: expired"),
    ("payment_failed", "push", "de"): ("Zahlung fehlgeschlagen", "9.99 GBP an mer_7: expired"),
    ("payment_failed", "webhook", "en"): ("Payment failed", "Payment pay_42 of 9.99 GBP failed: expired."),
    ("payment_failed", "webhook", "de"): ("Zahlung fehlgeschlagen", "Zahlung pay_42 über 9.99 GBP ist fehlgeschlagen"),
}


@pytest.mark.parametrize(("name", "channel", "locale"), list(EXPECTED))
def test_every_template_renders_in_two_locales(name: str, channel: str, locale: str) -> None:
    rendered = Templates().render(name, channel, locale, VARIABLES)
    subject, body = EXPECTED[(name, channel, locale)]
    assert rendered.locale == locale
    assert rendered.subject == subject
    assert body in rendered.text
    assert (rendered.html is not None) == (channel == "email")
    if rendered.html is not None:
        assert f'lang="{locale}"' in rendered.html


def test_regional_and_unknown_locales_fall_back() -> None:
    templates = Templates(fallback_locale="en")
    assert templates.render("receipt", "sms", "de-AT", VARIABLES).locale == "de"
    assert templates.render("receipt", "sms", "fr-FR", VARIABLES).locale == "en"


def test_a_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(VariableMissingError, match="merchantId"):
        Templates().render("receipt", "sms", "en", {"amount": "1.00", "currency": "EUR", "paymentId": "p"})


def test_missing_variable_in_a_request_is_422_and_nothing_is_sent(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server() as hook:
        response = app.request({"notificationId": "ntf_t1", "channel": "webhook", "recipient": hook.url + "/h",
                                "template": "receipt", "variables": {"amount": "1.00"}})
    assert response.status_code == 422
    assert (reply_json(response)["field"], reply_json(response)["rule"]) == ("data.variables", "required")
    assert hook.requests == []
    assert app.client.get("/notifications/ntf_t1").status_code == 404


def test_unknown_template_is_422(make_harness: MakeHarness) -> None:
    app = make_harness()
    response = app.request({"notificationId": "ntf_t2", "channel": "sms", "recipient": "+447700900123",
                            "template": "no_such_template"})
    assert (response.status_code, reply_json(response)["field"]) == (422, "data.template")


def test_template_request_renders_in_the_asked_locale(make_harness: MakeHarness) -> None:
    app = make_harness()
    with recording_server() as hook:
        response = app.request({"notificationId": "ntf_t3", "channel": "webhook", "recipient": hook.url + "/h",
                                "template": "receipt", "locale": "de", "variables": VARIABLES})
    assert response.status_code == 200
    [request] = hook.requests
    assert b"wurde verbucht" in request.body
