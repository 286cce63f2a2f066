"""Settings of the notifications function (PAYMESH_NOTIFICATIONS_* environment variables)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from functions.notifications.channels.webhook import decode_secret
from functions.notifications.destinations import parse_allow_hosts
from functions.notifications.templates import TEMPLATES_DIR
from functions.notifications.webhooks.policy import parse_schedule
from shared.config import RuntimeSettings


class NotificationsSettings(RuntimeSettings):
    # delivery
    notifications_max_attempts: PositiveInt = Field(
        default=5, description="attempts before a transiently failing notification becomes notification-failed")
    # Longer than a live attempt runs (the KafkaSource's PT30S timeout; channel timeouts are 10-20 s), shorter than
    # the KafkaSource's redelivery budget (retry 6 from PT0.5S exponential: the last try comes ~63 s after the
    # first). Longer than that budget, a crash between claim and record dead-letters the event instead of
    # settling it as delivery_unknown. The window never allows a second send, whatever its length.
    notifications_in_flight_seconds: PositiveFloat = Field(
        default=45.0, description="how long an unfinished attempt counts as in progress rather than interrupted")
    notifications_templates_dir: Path = TEMPLATES_DIR
    notifications_default_locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    # default recipients of automatic receipts and failure notices (payment metadata wins)
    notifications_receipt_webhook_url: str | None = None
    notifications_receipt_email: str | None = None
    # webhook (Standard Webhooks)
    notifications_webhook_secret: str | None = Field(default=None, description="whsec_<base64 key>")
    notifications_webhook_allow_hosts: str = Field(
        default="", description="comma-separated hosts exempt from the SSRF guard (and allowed over http)")
    notifications_webhook_timeout_seconds: PositiveFloat = 10.0
    # email (SMTP)
    notifications_smtp_host: str | None = None
    notifications_smtp_port: PositiveInt = 587
    notifications_smtp_security: Literal["none", "starttls", "ssl"] = "starttls"
    notifications_smtp_verify_tls: bool = True
    notifications_smtp_username: str | None = None
    notifications_smtp_password: str | None = None
    notifications_smtp_from: str = "paymesh <no-reply@paymesh.local>"
    notifications_smtp_timeout_seconds: PositiveFloat = 20.0
    # SMS (Twilio Messages API shape)
    notifications_twilio_base_url: str = "https://api.twilio.com"
    notifications_twilio_account_sid: str | None = None
    notifications_twilio_auth_token: str | None = None
    notifications_twilio_from: str | None = None
    notifications_twilio_messaging_service_sid: str | None = None
    # push (FCM HTTP v1 shape)
    notifications_fcm_base_url: str = "https://fcm.googleapis.com"
    notifications_fcm_project_id: str | None = None
    notifications_fcm_access_token: str | None = None
    notifications_provider_timeout_seconds: PositiveFloat = 10.0
    # The email, SMS and push providers' circuit breakers (one each, per process): this many consecutive transient
    # failures open one; while open, sends are refused without calling the provider until a probe after the cooldown.
    notifications_provider_breaker_failures: PositiveInt = 5
    notifications_provider_breaker_cooldown_seconds: PositiveFloat = 30.0

    # merchant webhook endpoints (issue 17)
    notifications_webhook_retry_schedule: str = Field(
        default="5,300,1800,7200,18000,36000,36000",
        description="seconds before each retry of a merchant webhook, comma-separated; then it fails")
    notifications_endpoint_disable_after: timedelta = Field(
        default=timedelta(days=5), description="an endpoint failing without a break this long is disabled")
    notifications_webhook_secret_overlap_seconds: PositiveFloat = Field(
        default=86400.0, description="how long the old secret still signs after a rotation")
    notifications_webhook_lease_seconds: PositiveFloat = Field(
        default=60.0, description="an attempt interrupted by a crash is retried by the first tick after this")
    notifications_webhook_breaker_failures: PositiveInt = 5
    notifications_webhook_breaker_cooldown_seconds: PositiveFloat = 30.0
    notifications_webhook_tick_messages_max: PositiveInt = 200
    notifications_webhook_tick_seconds_max: PositiveFloat = 20.0

    @field_validator("notifications_webhook_retry_schedule")
    @classmethod
    def _schedule_format(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @property
    def retry_schedule(self) -> tuple[float, ...]:
        return parse_schedule(self.notifications_webhook_retry_schedule)

    @field_validator("notifications_webhook_secret")
    @classmethod
    def _secret_format(cls, value: str | None) -> str | None:
        if value:
            try:
                decode_secret(value)
            except ValueError as error:
                raise ValueError(f"webhook secret {error} (whsec_ followed by a base64 key)") from None
        return value or None

    @property
    def allow_hosts(self) -> frozenset[str]:
        return parse_allow_hosts(self.notifications_webhook_allow_hosts)
