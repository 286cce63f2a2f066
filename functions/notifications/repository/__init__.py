"""All SQL of the notifications function: the delivery journal and the merchant webhook store."""

from functions.notifications.repository.journal import (
    AttemptRecord,
    ClaimConflictError,
    JournalRepository,
    NotificationRecord,
)
from functions.notifications.repository.webhooks import EndpointRecord, MessageRecord, WebhookRepository

__all__ = ["AttemptRecord", "ClaimConflictError", "EndpointRecord", "JournalRepository", "MessageRecord",
           "NotificationRecord", "WebhookRepository"]
