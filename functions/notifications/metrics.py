"""Prometheus metrics of the notifications function (dashboards and alerts use these names)."""

from __future__ import annotations

from prometheus_client import Counter

SENT = Counter("notifications_sent", "Notifications delivered, by channel", ["channel"])
FAILED = Counter("notifications_failed", "Notifications given up on, by channel and reason", ["channel", "reason"])
ATTEMPTS = Counter("notifications_delivery_attempts", "Delivery attempts, by channel and outcome",
                   ["channel", "outcome"])

# Merchant webhooks (issue 17): attempts by outcome (delivered, failed, rate_limited, breaker_open, skipped).
WEBHOOK_ATTEMPTS = Counter("notifications_webhook_attempts", "Merchant webhook attempts, by outcome", ["outcome"])
WEBHOOK_MESSAGES_FAILED = Counter("notifications_webhook_messages_failed",
                                  "Merchant webhook messages given up on, by reason", ["reason"])
WEBHOOK_ENDPOINTS_DISABLED = Counter("notifications_webhook_endpoints_disabled",
                                     "Merchant webhook endpoints disabled for failing too long")
PROVIDER_BREAKER_REFUSALS = Counter(
    "notifications_provider_breaker_refusals", "Sends refused without calling the provider: its circuit breaker "
    "was open, by channel", ["channel"])
