"""The SQL of the delivery journal (email, SMS, push and one-off webhooks).

Reads are select() statements through the session returning plain records; writes are Core insert and
update statements, so no ORM unit of work runs on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from functions.notifications.models import DeliveryAttempt, Notification, aware

NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]
ATTEMPTS = DeliveryAttempt.__table__  # type: ignore[attr-defined]


class ClaimConflictError(Exception):
    """Another worker inserted the same notification or attempt first."""


@dataclass(slots=True)
class NotificationRecord:
    notification_id: str
    channel: str
    recipient_masked: str
    template: str | None
    locale: str
    status: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    provider_message_id: str | None = None
    reason: str | None = None
    last_error: str | None = None
    event_source: str | None = None
    event_id: str | None = None


@dataclass(slots=True)
class AttemptRecord:
    id: int
    notification_id: str
    number: int
    channel: str
    status: str
    started_at: datetime
    provider_message_id: str | None = None
    error: str | None = None
    finished_at: datetime | None = None


def _notification(row: Any) -> NotificationRecord:
    values = dict(row._mapping)
    values["created_at"], values["updated_at"] = aware(values["created_at"]), aware(values["updated_at"])
    return NotificationRecord(**values)


def _attempt(row: Any) -> AttemptRecord:
    values = dict(row._mapping)
    values["started_at"] = aware(values["started_at"])
    values["finished_at"] = aware(values["finished_at"]) if values["finished_at"] is not None else None
    return AttemptRecord(**values)


class JournalRepository:
    """The delivery journal of one session (the runtime's transaction for the event)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- reads ----------------------------------------------------------------------------------

    def lock(self, notification_id: str) -> NotificationRecord | None:
        """The notification's row, locked until this transaction ends (PostgreSQL)."""
        row = self.session.execute(select(NOTIFICATIONS).where(NOTIFICATIONS.c.notification_id == notification_id)
                                   .with_for_update()).first()
        return _notification(row) if row is not None else None

    def get(self, notification_id: str) -> NotificationRecord | None:
        row = self.session.execute(select(NOTIFICATIONS)
                                   .where(NOTIFICATIONS.c.notification_id == notification_id)).first()
        return _notification(row) if row is not None else None

    def attempts(self, notification_id: str) -> list[AttemptRecord]:
        rows = self.session.execute(select(ATTEMPTS).where(ATTEMPTS.c.notification_id == notification_id)
                                    .order_by(ATTEMPTS.c.number)).all()
        return [_attempt(row) for row in rows]

    def last_attempt(self, notification_id: str) -> AttemptRecord | None:
        row = self.session.execute(select(ATTEMPTS).where(ATTEMPTS.c.notification_id == notification_id)
                                   .order_by(ATTEMPTS.c.number.desc()).limit(1)).first()
        return _attempt(row) if row is not None else None

    # ---- writes ---------------------------------------------------------------------------------

    def insert(self, record: NotificationRecord) -> None:
        self.session.execute(insert(NOTIFICATIONS).values(**_columns(record)))

    def save(self, record: NotificationRecord) -> None:
        values = _columns(record)
        del values["notification_id"]
        self.session.execute(update(NOTIFICATIONS).where(NOTIFICATIONS.c.notification_id == record.notification_id)
                             .values(**values))

    def claim(self, record: NotificationRecord, *, new: bool, started_at: datetime) -> AttemptRecord:
        """Write the notification and its next attempt (status sending) and commit them before the send."""
        try:
            if new:
                self.insert(record)
            else:
                self.save(record)
            result = self.session.execute(insert(ATTEMPTS).values(
                notification_id=record.notification_id, number=record.attempts, channel=record.channel,
                status="sending", started_at=started_at).returning(ATTEMPTS.c.id))
            attempt_id = int(result.scalar_one())
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            raise ClaimConflictError(record.notification_id) from None
        return AttemptRecord(id=attempt_id, notification_id=record.notification_id, number=record.attempts,
                             channel=record.channel, status="sending", started_at=started_at)

    def finish_attempt(self, attempt: AttemptRecord) -> None:
        self.session.execute(update(ATTEMPTS).where(ATTEMPTS.c.id == attempt.id).values(
            status=attempt.status, provider_message_id=attempt.provider_message_id, error=attempt.error,
            finished_at=attempt.finished_at))

    def commit(self) -> None:
        self.session.commit()


def _columns(record: NotificationRecord) -> dict[str, Any]:
    return {item.name: getattr(record, item.name) for item in fields(record)}
