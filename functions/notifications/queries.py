"""Read-only routes: a notification's delivery record with its attempts (recipients masked)."""

from __future__ import annotations

from functions.notifications.delivery import journal
from functions.notifications.models import aware
from shared.contract import Query, Reply


def notification_view(q: Query) -> Reply:
    row, attempts = journal(q.session, q.params["notification_id"])
    if row is None:
        return Reply({"error": "not_found", "message": "no such notification"}, 404)
    return Reply({
        "notificationId": row.notification_id, "channel": row.channel, "recipient": row.recipient_masked,
        "template": row.template, "locale": row.locale, "status": row.status, "attempts": row.attempts,
        "providerMessageId": row.provider_message_id, "reason": row.reason, "lastError": row.last_error,
        "createdAt": aware(row.created_at).isoformat(), "updatedAt": aware(row.updated_at).isoformat(),
        "deliveryAttempts": [{
            "number": attempt.number, "status": attempt.status, "providerMessageId": attempt.provider_message_id,
            "error": attempt.error, "startedAt": aware(attempt.started_at).isoformat(),
            "finishedAt": aware(attempt.finished_at).isoformat() if attempt.finished_at else None,
        } for attempt in attempts],
    })
