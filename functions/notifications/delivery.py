"""Deliver a notification at most once per notification id, with every attempt journaled.

The handler runs inside the runtime's transaction, which is rolled back on a transient failure and may
never commit at all if the process dies. So the journal is committed on its own, around the send:

1. claim: the notification row (status `sending`) and the attempt row are committed BEFORE sending;
2. record: the attempt's outcome is committed right after the provider answers;
3. the outcome events are then stored with the idempotency record by the runtime, as usual.

A redelivery that finds `sent` or `failed` re-emits that outcome without sending; one that finds
`sending` left over from a crash between 1 and 2 does not send again (see README: at most once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.notifications import metrics
from functions.notifications.channels import Channel, Delivered, Message, Outcome, Undelivered
from functions.notifications.masking import mask, scrub
from functions.notifications.models import AttemptStatus, Status
from functions.notifications.repository import (
    AttemptRecord,
    ClaimConflictError,
    JournalRepository,
    NotificationRecord,
)
from shared.contract import Context, Emit
from shared.errors import TransientError
from shared.events import NotificationAuditEvent, NotificationFailed, NotificationSent

log = logging.getLogger("paymesh.notifications")


@dataclass(frozen=True, slots=True)
class Request:
    """A notification to deliver: a rendered message, or the permanent reason it cannot be sent."""

    notification_id: str
    channel: str
    recipient: str
    locale: str
    template: str | None = None
    message: Message | None = None
    problem: Undelivered | None = None
    # Added to the outcome events' metadata and the audit details, e.g. {"paymentId": ...}.
    about: dict[str, Any] = field(default_factory=dict)

    @property
    def masked(self) -> str:
        return mask(self.channel, self.recipient)


class Deliverer:
    def __init__(self, channels: Mapping[str, Channel], max_attempts: int, in_flight: timedelta) -> None:
        self.channels = channels
        self.max_attempts = max_attempts
        self.in_flight = in_flight

    def deliver(self, ctx: Context, request: Request) -> list[Emit]:
        journal = JournalRepository(ctx.session)
        row = journal.lock(request.notification_id)
        if row is not None and row.status in {Status.SENT, Status.FAILED}:
            return self._settled(ctx, row, request)
        if row is not None and row.status == Status.SENDING:
            if ctx.now - row.updated_at < self.in_flight:
                raise TransientError(f"notification {request.notification_id} is being delivered by another worker")
            return self._in_doubt(ctx, journal, row, request)
        problem = request.problem or self._unconfigured(request)
        if problem is not None:
            if row is None:
                row = self._new_row(ctx, request)
                self._settle(ctx, row, None, problem, request)
                journal.insert(row)
            else:
                self._settle(ctx, row, None, problem, request)
                journal.save(row)
            return self._outcome(ctx, row, request)
        assert request.message is not None
        row, attempt = self._claim(ctx, journal, row, request)
        outcome = self._send(request)
        self._record(ctx, journal, row, attempt, outcome=outcome, request=request)
        if row.status == Status.RETRYING:
            raise TransientError(f"notification {request.notification_id}: {row.last_error}")
        return self._outcome(ctx, row, request)

    # ---- steps ----------------------------------------------------------------------------------

    def _unconfigured(self, request: Request) -> Undelivered | None:
        missing = self.channels[request.channel].configured()
        return Undelivered(permanent=True, reason="not_configured", error=missing) if missing else None

    @staticmethod
    def _new_row(ctx: Context, request: Request) -> NotificationRecord:
        return NotificationRecord(notification_id=request.notification_id, channel=request.channel,
                                  recipient_masked=request.masked, template=request.template, locale=request.locale,
                                  status=Status.SENDING, attempts=0, created_at=ctx.now, updated_at=ctx.now)

    def _claim(self, ctx: Context, journal: JournalRepository, row: NotificationRecord | None,
               request: Request) -> tuple[NotificationRecord, AttemptRecord]:
        """Commit the attempt before sending, so a crash after the send cannot lead to a second one."""
        new = row is None
        row = row or self._new_row(ctx, request)
        row.status = Status.SENDING
        row.attempts += 1
        row.updated_at = datetime.now(UTC)
        try:
            attempt = journal.claim(row, new=new, started_at=row.updated_at)
        except ClaimConflictError:
            # Another delivery of the same notification claimed it first (PostgreSQL, concurrent workers).
            raise TransientError(f"notification {request.notification_id} is being delivered by another worker") \
                from None
        return row, attempt

    def _send(self, request: Request) -> Outcome:
        assert request.message is not None
        try:
            outcome = self.channels[request.channel].send(request.message)
        except Exception as error:  # a bug in a channel must not leave the attempt looking in flight
            log.exception("channel failed", extra={"notification_id": request.notification_id,
                                                   "channel": request.channel})
            outcome = Undelivered(permanent=False, reason="channel_error", error=f"{type(error).__name__}: {error}")
        if isinstance(outcome, Undelivered):
            outcome = Undelivered(outcome.permanent, outcome.reason,
                                  scrub(outcome.error, request.recipient, request.masked)[:2000])
        return outcome

    def _record(self, ctx: Context, journal: JournalRepository, row: NotificationRecord, attempt: AttemptRecord,
                *, outcome: Outcome, request: Request) -> None:
        now = datetime.now(UTC)
        attempt.finished_at = now
        if isinstance(outcome, Delivered):
            attempt.status = AttemptStatus.SENT
            attempt.provider_message_id = outcome.provider_message_id
            metrics.ATTEMPTS.labels(row.channel, "sent").inc()
            self._settle(ctx, row, outcome, None, request)
        else:
            attempt.status = AttemptStatus.REJECTED if outcome.permanent else AttemptStatus.TRANSIENT
            attempt.error = outcome.error
            metrics.ATTEMPTS.labels(row.channel, attempt.status).inc()
            if outcome.permanent:
                self._settle(ctx, row, None, outcome, request)
            elif row.attempts >= self.max_attempts:
                exhausted = Undelivered(True, "attempts_exhausted", outcome.error)
                self._settle(ctx, row, None, exhausted, request)
            else:
                row.status = Status.RETRYING
                row.last_error = outcome.error
                row.updated_at = now
                log.warning("notification delivery failed, will retry", extra=self._log(row, error=outcome.error))
        journal.finish_attempt(attempt)
        journal.save(row)
        journal.commit()

    def _settle(self, ctx: Context, row: NotificationRecord, delivered: Delivered | None, problem: Undelivered | None,
                request: Request) -> None:
        row.updated_at = datetime.now(UTC)
        row.event_source, row.event_id = ctx.event.source, ctx.event.id
        if delivered is not None:
            row.status = Status.SENT
            row.provider_message_id = delivered.provider_message_id
            metrics.SENT.labels(row.channel).inc()
            log.info("notification sent", extra=self._log(row))
        else:
            assert problem is not None
            row.status = Status.FAILED
            row.reason = problem.reason
            row.last_error = problem.error
            metrics.FAILED.labels(row.channel, problem.reason).inc()
            log.warning("notification failed", extra=self._log(row, reason=problem.reason, error=problem.error))

    def _in_doubt(self, ctx: Context, journal: JournalRepository, row: NotificationRecord,
                  request: Request) -> list[Emit]:
        """An attempt was interrupted after the send may have happened: never risk a second message."""
        last = journal.last_attempt(row.notification_id)
        if last is not None and last.status == AttemptStatus.SENDING:
            last.status = AttemptStatus.UNKNOWN
            last.finished_at = datetime.now(UTC)
            last.error = "interrupted between send and record; not retried"
            journal.finish_attempt(last)
        self._settle(ctx, row, None, Undelivered(True, "delivery_unknown",
                                                 "a previous attempt was interrupted after it began sending; "
                                                 "not sent again to avoid a duplicate"), request)
        journal.save(row)
        journal.commit()
        return self._outcome(ctx, row, request)

    def _settled(self, ctx: Context, row: NotificationRecord, request: Request) -> list[Emit]:
        """Already delivered or given up: re-emit only for a redelivery of the event that settled it."""
        if (row.event_source, row.event_id) == (ctx.event.source, ctx.event.id):
            return self._outcome(ctx, row, request)
        log.info("notification already settled, not sent again",
                 extra=self._log(row, event_id=ctx.event.id, event_source=ctx.event.source))
        return []

    # ---- events ---------------------------------------------------------------------------------

    def _outcome(self, ctx: Context, row: NotificationRecord, request: Request) -> list[Emit]:
        metadata = {**request.about, **({"template": row.template} if row.template else {})}
        details: dict[str, Any] = {"channel": row.channel, "recipient": row.recipient_masked,
                                   "attempts": row.attempts, **metadata}
        if row.status == Status.SENT:
            sent = NotificationSent(notification_id=row.notification_id, channel=request.channel,
                                    recipient=row.recipient_masked, provider_message_id=row.provider_message_id,
                                    attempts=row.attempts, sent_at=row.updated_at, metadata=metadata)
            if row.provider_message_id:
                details["providerMessageId"] = row.provider_message_id
            audit = NotificationAuditEvent(service="notifications", action="notification.sent", outcome="success",
                                           subject=row.notification_id, correlation_id=ctx.event.correlation_id,
                                           occurred_at=ctx.now, details=details)
            return [Emit(sent), Emit(audit)]
        failed = NotificationFailed(notification_id=row.notification_id, channel=request.channel,
                                    recipient=row.recipient_masked, reason=row.reason or "unknown",
                                    error=row.last_error or "", attempts=row.attempts,
                                    failed_at=row.updated_at, metadata=metadata)
        details.update(reason=row.reason, error=row.last_error)
        audit = NotificationAuditEvent(service="notifications", action="notification.failed", outcome="failure",
                                       subject=row.notification_id, correlation_id=ctx.event.correlation_id,
                                       occurred_at=ctx.now, details=details)
        return [Emit(failed), Emit(audit)]

    @staticmethod
    def _log(row: NotificationRecord, **extra: Any) -> dict[str, Any]:
        return {"notification_id": row.notification_id, "channel": row.channel, "recipient": row.recipient_masked,
                "attempts": row.attempts, "status": row.status, **extra}

