"""Event handlers: explicit notification requests, automatic payment receipts and failure notices, merchant
webhooks for payment and refund outcomes, and the PingSource tick that sends due webhook retries."""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Any

from functions.notifications.channels import Message, Undelivered
from functions.notifications.delivery import Deliverer, Request
from functions.notifications.recipients import BadRecipientError, check_recipient
from functions.notifications.settings import NotificationsSettings
from functions.notifications.templates import Rendered, TemplateMissingError, Templates, VariableMissingError
from functions.notifications.webhooks.dispatch import Disabled, Dispatcher
from shared.contract import Context, Emit
from shared.errors import TransientError, invalid_data
from shared.events import (
    EventData,
    NotificationAuditEvent,
    NotificationRequested,
    PaymentFailed,
    PaymentProcessed,
    PingTick,
    RefundFailed,
    RefundProcessed,
)

SMS_MAX_CHARS = 1600  # Twilio's limit for one message body

# Metadata keys payments copies from the payment request, in order of preference, with their channel.
RECEIPT_RECIPIENTS = (("webhookUrl", "webhook"), ("customerEmail", "email"), ("customerPhone", "sms"),
                      ("deviceToken", "push"))


class Handlers:
    """The handlers of one NotificationsSettings, bound at wiring time (app.py)."""

    def __init__(self, settings: NotificationsSettings, deliverer: Deliverer, templates: Templates,
                 webhooks: Dispatcher) -> None:
        self.deliverer = deliverer
        self.templates = templates
        self.webhooks = webhooks
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
        # Webhooks first (their messages are committed before anything can fail), receipts first in the reply.
        hooks = self._merchant_webhooks(ctx, data, data.merchant_id)
        return self._automatic(ctx, data, notification_id=f"rcpt_{data.payment_id}", template="receipt",
                               kind="payment.succeeded", variables=variables) + hooks

    def payment_failed(self, ctx: Context, data: PaymentFailed) -> list[Emit]:
        variables = {"paymentId": data.payment_id, "amount": data.amount, "currency": data.currency,
                     "merchantId": data.merchant_id, "customerId": data.customer_id, "reason": data.reason,
                     "message": data.message}
        hooks = self._merchant_webhooks(ctx, data, data.merchant_id)
        return self._automatic(ctx, data, notification_id=f"fail_{data.payment_id}", template="payment_failed",
                               kind="payment.failed", variables=variables) + hooks

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

    # ---- merchant webhooks (payments.* outcomes) and the PingSource tick -----------------------

    def refund_processed(self, ctx: Context, data: RefundProcessed) -> list[Emit]:
        return self._merchant_webhooks(ctx, data, data.merchant_id)

    def refund_failed(self, ctx: Context, data: RefundFailed) -> list[Emit]:
        merchant_id = data.merchant_id or data.metadata.get("merchantId")
        return self._merchant_webhooks(ctx, data, merchant_id) if isinstance(merchant_id, str) else []

    def tick(self, ctx: Context, data: PingTick) -> list[Emit]:
        emits, disabled = self.webhooks.tick(ctx)
        return emits + self._disabled(ctx, disabled)

    def _merchant_webhooks(self, ctx: Context, data: EventData, merchant_id: str) -> list[Emit]:
        emits, disabled = self.webhooks.fan_out(ctx, data, merchant_id)
        return emits + self._disabled(ctx, disabled)

    def _disabled(self, ctx: Context, disabled: list[Disabled]) -> list[Emit]:
        """An audit event per endpoint disabled, and an email to its contact (at most once, best effort)."""
        emits: list[Emit] = []
        for item in disabled:
            endpoint = item.endpoint
            emits.append(Emit(NotificationAuditEvent(
                service="notifications", action="webhook-endpoint.disabled", outcome="info", subject=endpoint.id,
                correlation_id=ctx.event.correlation_id, occurred_at=ctx.now,
                details={"endpointId": endpoint.id, "merchantId": endpoint.merchant_id, "reason": "failing",
                         "failingSince": endpoint.failing_since.isoformat() if endpoint.failing_since else None})))
            if endpoint.contact_email:
                text = (f"Your webhook endpoint {endpoint.id} has failed every delivery since "
                        f"{endpoint.failing_since} and was disabled. Fix it, then enable it with "
                        f"POST /endpoints/{endpoint.id}/enable and recover missed messages with "
                        f"POST /endpoints/{endpoint.id}/recover?since=...")
                notification_id = f"epoff_{endpoint.id}_{int(ctx.now.timestamp())}"
                message = Message(notification_id=notification_id, channel="email",
                                  recipient=endpoint.contact_email, text=text,
                                  subject="Webhook endpoint disabled", kind="webhook-endpoint.disabled")
                # A transient failure leaves the journal showing it retrying; the endpoint is disabled anyway.
                with suppress(TransientError):
                    emits += self.deliverer.deliver(ctx, Request(notification_id, "email", endpoint.contact_email,
                                                                 self.receipt_locale, message=message,
                                                                 about={"endpointId": endpoint.id}))
        return emits


def _one_line(text: str | None) -> str | None:
    return " ".join(text.split()) if text is not None else None


def _string_keys(value: Any) -> dict[str, Any]:
    return {str(key): item for key, item in value.items()} if isinstance(value, dict) else {}


def _locale(value: Any, default: str) -> str:
    return value if isinstance(value, str) and re.fullmatch(r"[a-z]{2}(-[A-Z]{2})?", value) else default
