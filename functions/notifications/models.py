"""The delivery journal: one row per notification, one row per attempt to deliver it.

Recipients are stored masked only: a retry gets the full recipient again from the redelivered event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Status(StrEnum):
    SENDING = "sending"  # an attempt is under way, or was interrupted (see README: in doubt)
    RETRYING = "retrying"  # the last attempt failed transiently; the event will be redelivered
    SENT = "sent"
    FAILED = "failed"


class AttemptStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    REJECTED = "rejected"  # permanent provider error
    TRANSIENT = "transient_error"
    UNKNOWN = "unknown"  # interrupted between send and record: never retried


class Notification(SQLModel, table=True):
    __tablename__ = "notifications_notifications"

    notification_id: str = Field(primary_key=True, max_length=128)
    channel: str = Field(max_length=16)
    recipient_masked: str = Field(max_length=256)
    template: str | None = Field(default=None, max_length=100)
    locale: str = Field(max_length=16)
    status: str = Field(max_length=16, index=True)
    attempts: int = Field(sa_column=Column(Integer, nullable=False))
    provider_message_id: str | None = Field(default=None, max_length=256)
    reason: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The event whose handling produced the final outcome: only its redelivery re-emits the outcome.
    event_source: str | None = Field(default=None, max_length=512)
    event_id: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "notifications_delivery_attempts"
    __table_args__ = (UniqueConstraint("notification_id", "number", name="uq_notifications_attempt_number"),)

    id: int | None = Field(default=None, primary_key=True)
    notification_id: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    number: int = Field(sa_column=Column(Integer, nullable=False))
    channel: str = Field(max_length=16)
    status: str = Field(max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=256)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class WebhookEndpoint(SQLModel, table=True):
    """A merchant's webhook endpoint: where, which event types, its signing secrets, breaker and bucket."""

    __tablename__ = "notifications_webhook_endpoints"

    id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    url: str = Field(sa_column=Column(Text, nullable=False))
    event_types: str = Field(sa_column=Column(Text, nullable=False))  # JSON list
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    contact_email: str | None = Field(default=None, max_length=254)
    rate_limit_per_second: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    status: str = Field(max_length=16)  # enabled | disabled
    disabled_reason: str | None = Field(default=None, max_length=64)
    secret: str = Field(max_length=128)
    previous_secret: str | None = Field(default=None, max_length=128)
    previous_secret_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # failing without a break since (reset by a success); disables the endpoint after the window
    failing_since: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    consecutive_failures: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    breaker_opened_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    tokens: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    tokens_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WebhookMessage(SQLModel, table=True):
    """One event for one endpoint; its id is the webhook-id header, stable across attempts."""

    __tablename__ = "notifications_webhook_messages"

    id: str = Field(primary_key=True, max_length=64)
    endpoint_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    event_type: str = Field(max_length=128)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16)  # pending | delivered | failed
    step: int = Field(sa_column=Column(Integer, nullable=False))  # failed attempts counted by the schedule
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), index=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "notifications_webhook_attempts"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str = Field(max_length=16)  # delivered | failed | rate_limited | breaker_open
    response_status: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    duration_ms: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


TABLES = frozenset({Notification.__tablename__, DeliveryAttempt.__tablename__, WebhookEndpoint.__tablename__,
                    WebhookMessage.__tablename__, WebhookAttempt.__tablename__})


def aware(moment: datetime) -> datetime:
    """SQLite gives timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
