"""payments_processed_total, payments_failed_total{reason} and payment_processing_duration_seconds."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.payments.harness import Harness, payment


def value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_metrics_count_outcomes(payments: Harness) -> None:
    processed = value("payments_processed_total")
    declined = value("payments_failed_total", {"reason": "insufficient_funds"})
    timed = value("payment_processing_duration_seconds_count")
    payments.pay(payment("pay_1"))
    payments.pay(payment("pay_2", method={"type": "card", "token": "tok_insufficientFunds"}))
    assert value("payments_processed_total") == processed + 1
    assert value("payments_failed_total", {"reason": "insufficient_funds"}) == declined + 1
    assert value("payment_processing_duration_seconds_count") == timed + 2
    body = payments.client.get("/metrics").get_data(as_text=True)
    assert "payments_failed_total{reason=\"insufficient_funds\"}" in body
