"""HTTP routes: a notification's delivery record (here) and the merchant webhook admin API (endpoints)."""

from __future__ import annotations

from functions.notifications.repository import JournalRepository
from shared.contract import Query, Reply


def notification_view(q: Query) -> Reply:
    journal = JournalRepository(q.session)
    notification_id = q.params["notification_id"]
    row = journal.get(notification_id)
    if row is None:
        return Reply({"error": "not_found", "message": "no such notification"}, 404)
    return Reply({
        "notificationId": row.notification_id, "channel": row.channel, "recipient": row.recipient_masked,
        "template": row.template, "locale": row.locale, "status": row.status, "attempts": row.attempts,
        "providerMessageId": row.provider_message_id, "reason": row.reason, "lastError": row.last_error,
        "createdAt": row.created_at.isoformat(), "updatedAt": row.updated_at.isoformat(),
        "deliveryAttempts": [{
            "number": attempt.number, "status": attempt.status, "providerMessageId": attempt.provider_message_id,
            "error": attempt.error, "startedAt": attempt.started_at.isoformat(),
            "finishedAt": attempt.finished_at.isoformat() if attempt.finished_at else None,
        } for attempt in journal.attempts(notification_id)],
    })
