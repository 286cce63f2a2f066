"""The notifications function: email, SMS, push and signed webhooks, delivered once and journaled.

Wiring only: settings -> channels, deliverer, handlers and routes -> FunctionSpec.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from functions.notifications.channels import Channel
from functions.notifications.channels.email import EmailChannel
from functions.notifications.channels.push import PushChannel
from functions.notifications.channels.sms import SmsChannel
from functions.notifications.channels.webhook import WebhookChannel
from functions.notifications.delivery import Deliverer
from functions.notifications.handlers import Handlers
from functions.notifications.models import TABLES
from functions.notifications.routes import notification_view
from functions.notifications.settings import NotificationsSettings
from functions.notifications.templates import Templates
from shared.contract import FunctionSpec
from shared.events import (
    NotificationAuditEvent,
    NotificationFailed,
    NotificationRequested,
    NotificationSent,
    PaymentFailed,
    PaymentProcessed,
)
from shared.store import Store

__all__ = ["NotificationsSettings", "build_spec", "channels"]

OUTPUTS = frozenset({NotificationSent.type_name, NotificationFailed.type_name, NotificationAuditEvent.type_name})


def channels(settings: NotificationsSettings) -> dict[str, Channel]:
    timeout = settings.notifications_provider_timeout_seconds
    return {
        "webhook": WebhookChannel(settings.notifications_webhook_secret, settings.allow_hosts,
                                  settings.notifications_webhook_timeout_seconds),
        "email": EmailChannel(host=settings.notifications_smtp_host, port=settings.notifications_smtp_port,
                              security=settings.notifications_smtp_security,
                              username=settings.notifications_smtp_username,
                              password=settings.notifications_smtp_password, sender=settings.notifications_smtp_from,
                              timeout=settings.notifications_smtp_timeout_seconds,
                              verify_tls=settings.notifications_smtp_verify_tls),
        "sms": SmsChannel(base_url=settings.notifications_twilio_base_url,
                          account_sid=settings.notifications_twilio_account_sid,
                          auth_token=settings.notifications_twilio_auth_token,
                          sender=settings.notifications_twilio_from,
                          messaging_service_sid=settings.notifications_twilio_messaging_service_sid, timeout=timeout),
        "push": PushChannel(settings.notifications_fcm_base_url, settings.notifications_fcm_project_id,
                            settings.notifications_fcm_access_token, timeout),
    }


def build_spec(settings: NotificationsSettings) -> FunctionSpec:
    deliverer = Deliverer(channels(settings), settings.notifications_max_attempts,
                          timedelta(seconds=settings.notifications_in_flight_seconds))
    templates = Templates(settings.notifications_templates_dir, settings.notifications_default_locale)
    handlers = Handlers(settings, deliverer, templates)
    spec = FunctionSpec("notifications", OUTPUTS, migrations=Path(__file__).parent / "migrations", tables=TABLES)
    spec.on(NotificationRequested, handlers.requested)
    spec.on(PaymentProcessed, handlers.payment_processed)
    spec.on(PaymentFailed, handlers.payment_failed)
    spec.get("/notifications/{notification_id}", notification_view)
    # A delivery commits its claim before it sends, so it cannot share a transaction with other events.
    spec.on_store.append(Store.commit_each_alone)
    return spec
