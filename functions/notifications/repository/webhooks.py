"""The SQL of merchant webhooks: endpoints, messages (one per event and endpoint) and their attempts.

Reads are select() statements returning plain records; writes are Core statements. A message is claimed
for an attempt with a conditional update of its next_attempt_at, so two workers never attempt it at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlmodel import Session

from functions.notifications.models import WebhookAttempt, WebhookEndpoint, WebhookMessage, aware

ENDPOINTS = WebhookEndpoint.__table__  # type: ignore[attr-defined]
MESSAGES = WebhookMessage.__table__  # type: ignore[attr-defined]
ATTEMPTS = WebhookAttempt.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class EndpointRecord:
    id: str
    merchant_id: str
    url: str
    event_types: list[str]
    description: str | None
    contact_email: str | None
    rate_limit_per_second: int | None
    status: str
    disabled_reason: str | None
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    failing_since: datetime | None
    consecutive_failures: int
    breaker_opened_at: datetime | None
    tokens: float
    tokens_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class MessageRecord:
    id: str
    endpoint_id: str
    event_type: str
    payload: str
    status: str
    step: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


def _times(values: dict[str, Any]) -> dict[str, Any]:
    return {key: aware(value) if isinstance(value, datetime) else value for key, value in values.items()}


def _endpoint(row: Any) -> EndpointRecord:
    values = _times(dict(row._mapping))
    values["event_types"] = json.loads(values["event_types"])
    return EndpointRecord(**values)


def _message(row: Any) -> MessageRecord:
    return MessageRecord(**_times(dict(row._mapping)))


class WebhookRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- endpoints ------------------------------------------------------------------------------

    def endpoint(self, endpoint_id: str, *, lock: bool = False) -> EndpointRecord | None:
        statement = select(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id)
        row = self.session.execute(statement.with_for_update() if lock else statement).first()
        return _endpoint(row) if row is not None else None

    def endpoints_of(self, merchant_id: str) -> list[EndpointRecord]:
        rows = self.session.execute(select(ENDPOINTS).where(ENDPOINTS.c.merchant_id == merchant_id)
                                    .order_by(ENDPOINTS.c.created_at, ENDPOINTS.c.id)).all()
        return [_endpoint(row) for row in rows]

    def subscribed(self, merchant_id: str, event_type: str) -> list[EndpointRecord]:
        return [endpoint for endpoint in self.endpoints_of(merchant_id)
                if endpoint.status == "enabled" and event_type in endpoint.event_types]

    def insert_endpoint(self, endpoint: EndpointRecord) -> None:
        self.session.execute(insert(ENDPOINTS).values(**_endpoint_columns(endpoint)))

    def save_endpoint(self, endpoint: EndpointRecord) -> None:
        values = _endpoint_columns(endpoint)
        del values["id"]
        self.session.execute(update(ENDPOINTS).where(ENDPOINTS.c.id == endpoint.id).values(**values))

    def delete_endpoint(self, endpoint_id: str, now: datetime) -> None:
        """Delete it; its pending messages fail quietly (their attempts stay listed)."""
        self.session.execute(delete(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id))
        self.session.execute(update(MESSAGES).where(MESSAGES.c.endpoint_id == endpoint_id,
                                                    MESSAGES.c.status == "pending")
                             .values(status="failed", next_attempt_at=None, last_error="endpoint deleted",
                                     updated_at=now))

    # ---- messages -------------------------------------------------------------------------------

    def message(self, message_id: str) -> MessageRecord | None:
        row = self.session.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
        return _message(row) if row is not None else None

    def messages_of(self, endpoint_id: str, status: str | None, limit: int) -> list[MessageRecord]:
        statement = select(MESSAGES).where(MESSAGES.c.endpoint_id == endpoint_id)
        if status is not None:
            statement = statement.where(MESSAGES.c.status == status)
        rows = self.session.execute(statement.order_by(MESSAGES.c.created_at.desc(), MESSAGES.c.id)
                                    .limit(limit)).all()
        return [_message(row) for row in rows]

    def insert_message(self, message: MessageRecord) -> None:
        self.session.execute(insert(MESSAGES).values(**{item.name: getattr(message, item.name)
                                                        for item in fields(message)}))

    def due(self, now: datetime, limit: int) -> list[str]:
        rows = self.session.execute(select(MESSAGES.c.id).where(MESSAGES.c.status == "pending",
                                                                MESSAGES.c.next_attempt_at <= now)
                                    .order_by(MESSAGES.c.next_attempt_at).limit(limit)).all()
        return [row[0] for row in rows]

    def claim(self, message_id: str, now: datetime, until: datetime) -> bool:
        """Take a due pending message for one attempt until `until`; False if another worker has it."""
        result = self.session.execute(update(MESSAGES).where(
            MESSAGES.c.id == message_id, MESSAGES.c.status == "pending", MESSAGES.c.next_attempt_at <= now,
        ).values(next_attempt_at=until, updated_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def save_message(self, message: MessageRecord) -> None:
        self.session.execute(update(MESSAGES).where(MESSAGES.c.id == message.id).values(
            status=message.status, step=message.step, next_attempt_at=message.next_attempt_at,
            last_error=message.last_error, updated_at=message.updated_at))

    def reschedule(self, endpoint_id: str, *, status: str, since: datetime | None, now: datetime) -> int:
        """Messages of `endpoint_id` in `status` (changed since `since`) become due again; how many."""
        statement = update(MESSAGES).where(MESSAGES.c.endpoint_id == endpoint_id, MESSAGES.c.status == status)
        if since is not None:
            statement = statement.where(MESSAGES.c.updated_at >= since)
        result = self.session.execute(statement.values(status="pending", step=0, next_attempt_at=now,
                                                       updated_at=now))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # ---- attempts -------------------------------------------------------------------------------

    def add_attempt(self, message_id: str, at: datetime, status: str, *, response_status: int | None = None,
                    duration_ms: int = 0, error: str | None = None) -> None:
        self.session.execute(insert(ATTEMPTS).values(message_id=message_id, at=at, status=status,
                                                     response_status=response_status, duration_ms=duration_ms,
                                                     error=error))

    def attempts(self, message_id: str) -> list[dict[str, Any]]:
        rows = self.session.execute(select(ATTEMPTS).where(ATTEMPTS.c.message_id == message_id)
                                    .order_by(ATTEMPTS.c.at, ATTEMPTS.c.id)).all()
        return [_times(dict(row._mapping)) for row in rows]

    def commit(self) -> None:
        self.session.commit()


def _endpoint_columns(endpoint: EndpointRecord) -> dict[str, Any]:
    values = {item.name: getattr(endpoint, item.name) for item in fields(endpoint)}
    values["event_types"] = json.dumps(values["event_types"])
    return values
