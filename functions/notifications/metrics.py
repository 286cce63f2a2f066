"""Prometheus metrics of the notifications function (dashboards and alerts use these names)."""

from __future__ import annotations

from prometheus_client import Counter

SENT = Counter("notifications_sent", "Notifications delivered, by channel", ["channel"])
FAILED = Counter("notifications_failed", "Notifications given up on, by channel and reason", ["channel", "reason"])
ATTEMPTS = Counter("notifications_delivery_attempts", "Delivery attempts, by channel and outcome",
                   ["channel", "outcome"])
