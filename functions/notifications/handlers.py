"""Event handlers: explicit notification requests, and automatic payment receipts and failure notices."""

from __future__ import annotations

import re
from typing import Any

from functions.notifications.channels import Message, Undelivered
from functions.notifications.delivery import Deliverer, Request
from functions.notifications.recipients import BadRecipientError, check_recipient
from functions.notifications.settings import NotificationsSettings
from functions.notifications.templates import Rendered, TemplateMissingError, Templates, VariableMissingError
from shared.contract import Context, Emit
from shared.errors import invalid_data
from shared.events import EventData, NotificationRequested, PaymentFailed, PaymentProcessed

SMS_MAX_CHARS = 1600  # Twilio's limit for one message body

# Metadata keys payments copies from the payment request, in order of preference, with their channel.
RECEIPT_RECIPIENTS = (("webhookUrl", "webhook"), ("customerEmail", "email"), ("customerPhone", "sms"),
                      ("deviceToken", "push"))


class Handlers:
    """The handlers of one NotificationsSettings, bound at wiring time (app.py)."""

    def __init__(self, settings: NotificationsSettings, deliverer: Deliverer, templates: Templates) -> None:
        self.deliverer = deliverer
        self.templates = templates
        self.allow_hosts = settings.allow_hosts
        self.receipt_locale = settings.notifications_default_locale
        # Recipients used when a payment event's metadata names none (both optional).
        self.default_recipients = (("webhook", settings.notifications_receipt_webhook_url),
                                   ("email", settings.notifications_receipt_email))

    # ---- notifications.notification-requested ---------------------------------------------------

    def requested(self, ctx: Context, data: NotificationRequested) -> list[Emit]:
        try:
            check_recipient(data.channel, data.recipient, self.allow_hosts)
        except BadRecipientError as error:
            raise invalid_data("recipient", error.rule, f"{data.channel} recipient {error}") from None
        rendered = self._render_requested(data)
        if data.channel == "sms" and len(rendered.text) > SMS_MAX_CHARS:
            raise invalid_data("body", "max_length", f"an SMS body may have at most {SMS_MAX_CHARS} characters")
        message = Message(notification_id=data.notification_id, channel=data.channel, recipient=data.recipient,
                          text=rendered.text, subject=_one_line(rendered.subject), html=rendered.html,
                          kind=f"notification.{data.template or 'message'}",
                          data=_string_keys(data.metadata.get("data")))
        request = Request(notification_id=data.notification_id, channel=data.channel, recipient=data.recipient,
                          locale=rendered.locale, template=data.template, message=message)
        return self.deliverer.deliver(ctx, request)

    def _render_requested(self, data: NotificationRequested) -> Rendered:
        if data.template is None:
            assert data.body is not None
            return Rendered(text=data.body, subject=data.subject, locale=data.locale)
        variables = {**data.variables, "notificationId": data.notification_id, "locale": data.locale}
        try:
            rendered = self.templates.render(data.template, data.channel, data.locale, variables)
        except TemplateMissingError as error:
            raise invalid_data("template", "known_template", str(error)) from None
        except VariableMissingError as error:
            raise invalid_data("variables", "required", str(error)) from None
        if data.subject is not None:
            return Rendered(text=rendered.text, subject=data.subject, html=rendered.html, locale=rendered.locale)
        return rendered

    # ---- payments.payment-processed / payments.payment-failed -----------------------------------

    def payment_processed(self, ctx: Context, data: PaymentProcessed) -> list[Emit]:
        variables = {"paymentId": data.payment_id, "amount": data.amount, "currency": data.currency,
                     "merchantId": data.merchant_id, "customerId": data.customer_id,
                     "gatewayReference": data.gateway_reference}
        return self._automatic(ctx, data, notification_id=f"rcpt_{data.payment_id}", template="receipt",
                               kind="payment.succeeded", variables=variables)

    def payment_failed(self, ctx: Context, data: PaymentFailed) -> list[Emit]:
        variables = {"paymentId": data.payment_id, "amount": data.amount, "currency": data.currency,
                     "merchantId": data.merchant_id, "customerId": data.customer_id, "reason": data.reason,
                     "message": data.message}
        return self._automatic(ctx, data, notification_id=f"fail_{data.payment_id}", template="payment_failed",
                               kind="payment.failed", variables=variables)

    def _automatic(self, ctx: Context, data: EventData, *, notification_id: str, template: str, kind: str,
                   variables: dict[str, Any]) -> list[Emit]:
        """One notification per payment outcome, to the first recipient found; none found: no output."""
        found = self._receipt_recipient(data.metadata)
        if found is None:
            return []
        channel, recipient = found
        locale = _locale(data.metadata.get("locale"), self.receipt_locale)
        about = {"paymentId": variables["paymentId"]}
        try:
            check_recipient(channel, recipient, self.allow_hosts)
        except BadRecipientError as error:
            # The payment event itself is fine: a bad recipient is this notification's failure, not a 4xx.
            problem = Undelivered(True, "invalid_recipient", f"{channel} recipient {error}")
            return self.deliverer.deliver(ctx, Request(notification_id, channel, recipient, locale, template,
                                                       problem=problem, about=about))
        rendered = self.templates.render(template, channel, locale, variables)
        message = Message(notification_id=notification_id, channel=channel, recipient=recipient,
                          text=rendered.text, subject=rendered.subject, html=rendered.html, kind=kind,
                          data={"paymentId": variables["paymentId"], "amount": variables["amount"],
                                "currency": variables["currency"], "merchantId": variables["merchantId"],
                                **({"reason": variables["reason"]} if "reason" in variables else {})})
        return self.deliverer.deliver(ctx, Request(notification_id, channel, recipient, rendered.locale, template,
                                                   message=message, about=about))

    def _receipt_recipient(self, metadata: dict[str, Any]) -> tuple[str, str] | None:
        for key, channel in RECEIPT_RECIPIENTS:
            value = metadata.get(key)
            if isinstance(value, str) and value:
                return channel, value
        for channel, default in self.default_recipients:
            if default:
                return channel, default
        return None


def _one_line(text: str | None) -> str | None:
    return " ".join(text.split()) if text is not None else None


def _string_keys(value: Any) -> dict[str, Any]:
    return {str(key): item for key, item in value.items()} if isinstance(value, dict) else {}


def _locale(value: Any, default: str) -> str:
    return value if isinstance(value, str) and re.fullmatch(r"[a-z]{2}(-[A-Z]{2})?", value) else default
