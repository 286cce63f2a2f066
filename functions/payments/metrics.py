"""Prometheus metrics of the payments function (served by the runtime's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PAYMENTS_PROCESSED = Counter("payments_processed_total", "Payments captured")
PAYMENTS_FAILED = Counter("payments_failed_total", "Payments that failed, by reason code", ["reason"])
PROCESSING_SECONDS = Histogram(
    "payment_processing_duration_seconds",
    "Time from receiving a payment request to its decision (fraud rules and gateway calls included)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
GATEWAY_BREAKER_REFUSALS = Counter(
    "payments_gateway_breaker_refusals_total",
    "Gateway calls refused without being made because the gateway's circuit breaker was open", ["gateway"])
