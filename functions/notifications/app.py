"""The notifications function: email, SMS, push and signed webhooks, delivered once and journaled.

Wiring only: settings -> channels, deliverer, handlers and routes -> FunctionSpec.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from functions.notifications.channels import Channel
from functions.notifications.channels.email import EmailChannel
from functions.notifications.channels.guarded import GuardedChannel
from functions.notifications.channels.push import PushChannel
from functions.notifications.channels.sms import SmsChannel
from functions.notifications.channels.webhook import WebhookChannel
from functions.notifications.delivery import Deliverer
from functions.notifications.handlers import Handlers
from functions.notifications.models import TABLES
from functions.notifications.routes import notification_view
from functions.notifications.routes.endpoints import MESSAGE_STATUSES, EndpointRoutes
from functions.notifications.settings import NotificationsSettings
from functions.notifications.templates import Templates
from functions.notifications.webhooks.dispatch import Dispatcher, DispatchPolicy
from functions.notifications.webhooks.endpoints import EndpointChange, EndpointCreate
from functions.notifications.webhooks.sender import WebhookSender
from shared.breaker import Breaker
from shared.contract import FunctionSpec, Param
from shared.events import (
    DisputeClosed,
    DisputeOpened,
    NotificationAuditEvent,
    NotificationFailed,
    NotificationRequested,
    NotificationSent,
    PaymentFailed,
    PaymentProcessed,
    PingTick,
    RefundFailed,
    RefundProcessed,
)
from shared.store import Store

__all__ = ["NotificationsSettings", "build_spec", "channels"]

OUTPUTS = frozenset({NotificationSent.type_name, NotificationFailed.type_name, NotificationAuditEvent.type_name})


def channels(settings: NotificationsSettings) -> dict[str, Channel]:
    timeout = settings.notifications_provider_timeout_seconds
    breaker = Breaker(settings.notifications_provider_breaker_failures,
                      timedelta(seconds=settings.notifications_provider_breaker_cooldown_seconds))
    providers: dict[str, Channel] = {
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
    return {name: channel if name == "webhook" else GuardedChannel(channel, breaker)
            for name, channel in providers.items()}


def build_spec(settings: NotificationsSettings) -> FunctionSpec:
    deliverer = Deliverer(channels(settings), settings.notifications_max_attempts,
                          timedelta(seconds=settings.notifications_in_flight_seconds))
    templates = Templates(settings.notifications_templates_dir, settings.notifications_default_locale)
    handlers = Handlers(settings, deliverer, templates, dispatcher(settings))
    spec = FunctionSpec("notifications", OUTPUTS, migrations=Path(__file__).parent / "migrations", tables=TABLES)
    spec.on(NotificationRequested, handlers.requested)
    spec.on(PaymentProcessed, handlers.payment_processed)
    spec.on(PaymentFailed, handlers.payment_failed)
    spec.on(RefundProcessed, handlers.refund_processed)
    spec.on(RefundFailed, handlers.refund_failed)
    spec.on(DisputeOpened, handlers.dispute_opened)
    spec.on(DisputeClosed, handlers.dispute_closed)
    spec.on(PingTick, handlers.tick)
    spec.get("/notifications/{notification_id}", notification_view,
             summary="A notification: channel, masked recipient, status and attempts")
    admin = EndpointRoutes(settings)
    spec.write("POST", "/endpoints", admin.create, summary="Register a merchant webhook endpoint (answers its secret)",
               request=EndpointCreate, success=201)
    spec.get("/endpoints", admin.list, summary="A merchant's webhook endpoints",
             params=[Param("merchantId", "text", "the merchant", required=True, max_chars=128)])
    spec.get("/endpoints/{endpoint_id}", admin.get, summary="One webhook endpoint (never its secret)")
    spec.write("PATCH", "/endpoints/{endpoint_id}", admin.change, summary="Change an endpoint", request=EndpointChange)
    spec.write("DELETE", "/endpoints/{endpoint_id}", admin.remove, summary="Remove an endpoint")
    spec.write("POST", "/endpoints/{endpoint_id}/rotate-secret", admin.rotate_secret,
               summary="A new signing secret; the old one still signs during the overlap")
    spec.write("POST", "/endpoints/{endpoint_id}/enable", admin.enable, summary="Enable a disabled endpoint")
    spec.write("POST", "/endpoints/{endpoint_id}/recover", admin.recover, success=202,
               summary="Send again what failed since an instant (at the next tick)",
               params=[Param("since", "time", "failed messages created at or after this instant", required=True)])
    spec.get("/endpoints/{endpoint_id}/messages", admin.messages, summary="An endpoint's messages",
             params=[Param("status", "text", "only messages in this state", max_chars=16,
                           choices=MESSAGE_STATUSES),
                     Param("limit", "integer", "messages per page", minimum=1, maximum=1000, default=100)])
    spec.write("POST", "/messages/{message_id}/replay", admin.replay, success=202,
               summary="Send a message again (at the next tick)")
    spec.get("/messages/{message_id}/attempts", admin.attempts, summary="Every attempt of a message, by webhook-id")
    # A delivery commits its claim before it sends, so it cannot share a transaction with other events.
    spec.on_store.append(Store.commit_each_alone)
    return spec


def dispatcher(settings: NotificationsSettings) -> Dispatcher:
    policy = DispatchPolicy(
        schedule=settings.retry_schedule, lease=timedelta(seconds=settings.notifications_webhook_lease_seconds),
        breaker=Breaker(settings.notifications_webhook_breaker_failures,
                        timedelta(seconds=settings.notifications_webhook_breaker_cooldown_seconds)),
        disable_after=settings.notifications_endpoint_disable_after,
        tick_messages_max=settings.notifications_webhook_tick_messages_max,
        tick_seconds_max=settings.notifications_webhook_tick_seconds_max)
    return Dispatcher(policy, WebhookSender(settings.allow_hosts, settings.notifications_webhook_timeout_seconds))
