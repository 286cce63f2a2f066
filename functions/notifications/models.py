"""The delivery journal: one row per notification, one row per attempt to deliver it.

Recipients are stored masked only: a retry gets the full recipient again from the redelivered event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Integer, String, Text, UniqueConstraint
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


TABLES = frozenset({Notification.__tablename__, DeliveryAttempt.__tablename__})


def aware(moment: datetime) -> datetime:
    """SQLite gives timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
