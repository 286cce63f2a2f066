"""Each compliance rule raises an audit.compliance-alerts event with rule id, severity and trigger ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from functions.audit.rules import alert_id
from functions.audit.sensitive import scrub
from shared.cards import luhn_valid
from tests.audit.helpers import Audit, audit_function
from tests.support import reply_json


@pytest.fixture
def audit(backend: str, tmp_path: Path) -> Iterator[Audit]:
    with audit_function(backend, tmp_path, audit_large_transaction_thresholds={"EUR": "1000", "JPY": "100000"},
                        audit_failed_payments_threshold=3, audit_failed_payments_window_minutes=10) as function:
        yield function


def only_alert(audit: Audit, rule: str) -> dict[str, Any]:
    found = [alert for alert in audit.alerts() if alert["ruleId"] == rule]
    assert len(found) == 1, audit.alerts()
    return found[0]


def test_large_transaction_per_currency(audit: Audit) -> None:
    assert audit.post(event_id="small", details={"amount": "999.99", "currency": "EUR"}).status_code == 204
    assert audit.post(event_id="usd", details={"amount": "5000000", "currency": "USD"}).status_code == 204
    response = audit.post(event_id="big", subject="pay_big", details={"amount": "1000.00", "currency": "EUR"})
    assert response.status_code == 200
    assert response.headers["ce-type"] == "audit.compliance-alerts"
    alert = only_alert(audit, "large-transaction")
    assert (alert["severity"], alert["subject"], alert["triggeringEventIds"]) == ("high", "pay_big", ["big"])
    assert alert["alertId"] == alert_id("large-transaction", ["big"])
    ledger = audit.post("ledger", event_id="txn", action="transaction.posted", subject="txn_1", details={
        "postings": [{"account": "a", "direction": "debit", "amount": "150000", "currency": "JPY"},
                     {"account": "b", "direction": "credit", "amount": "150000", "currency": "JPY"}]})
    assert ledger.status_code == 200
    assert len([a for a in audit.alerts() if a["ruleId"] == "large-transaction"]) == 2


def test_many_failed_payments_for_one_customer_in_the_window(audit: Audit) -> None:
    def fail(event_id: str, minute: int, customer: str = "cus_7") -> Any:
        return audit.post(event_id=event_id, action="payment.failed", outcome="failure", subject=event_id,
                          occurredAt=f"2026-03-01T10:{minute:02d}:00Z",
                          details={"customerId": customer, "amount": "1.00", "currency": "EUR", "reason": "declined"})

    assert fail("f1", 0).status_code == 204
    assert fail("other", 1, customer="cus_8").status_code == 204
    assert fail("f2", 11).status_code == 204  # f1 is outside the 10-minute window ending at 10:11
    assert fail("f3", 12).status_code == 204
    assert fail("f4", 13).status_code == 200
    alert = only_alert(audit, "failed-payments-velocity")
    assert alert["triggeringEventIds"] == ["f2", "f3", "f4"] and alert["subject"] == "cus_7"
    assert fail("f5", 14).status_code == 204  # fires again at 2x the threshold, not on every failure


def test_ledger_rejection(audit: Audit) -> None:
    response = audit.post("ledger", event_id="rej", action="transaction.rejected", outcome="rejected",
                          subject="txn_9", details={"reason": "unbalanced"})
    assert response.status_code == 200
    alert = only_alert(audit, "ledger-rejection")
    assert (alert["severity"], alert["triggeringEventIds"]) == ("medium", ["rej"])


def test_pan_anywhere_in_the_payload_is_alerted_and_stored_masked(audit: Audit) -> None:
    response = audit.post(event_id="pan", details={"note": "card 4242 4242 4242 4242 used", "nested": [
        {"number": 4000056655665556}]}, metadata={"order": "1234567890123"})
    assert response.status_code == 200
    alert = only_alert(audit, "pan-exposed")
    assert alert["severity"] == "critical" and alert["triggeringEventIds"] == ["pan"]
    stored = reply_json(audit.get("/events"))["items"][0]["data"]
    assert stored["details"]["note"] == "card 424242******4242 used"
    assert stored["details"]["nested"][0]["number"] == "400005******5556"
    assert stored["metadata"]["order"] == "1234567890123"  # not a Luhn number


def test_unmasked_email_or_phone_is_alerted_masked_ones_are_not(audit: Audit) -> None:
    assert audit.post("notifications", event_id="ok", action="notification.sent", subject="n1",
                      details={"recipient": "j***@example.com", "sms": "+44******789"}).status_code == 204
    response = audit.post("notifications", event_id="leak", action="notification.sent", subject="n2",
                          details={"recipient": "jane.doe@example.com", "sms": "+44 7700 900123"})
    assert response.status_code == 200
    alert = only_alert(audit, "unmasked-recipient")
    assert alert["triggeringEventIds"] == ["leak"]
    stored = reply_json(audit.get("/events", subject="n2"))["items"][0]["data"]["details"]
    assert stored["recipient"] == "j***@example.com" and "900123" not in stored["sms"]


def test_an_email_message_id_is_not_a_recipient(audit: Audit) -> None:
    response = audit.post("notifications", event_id="sent", action="notification.sent", subject="n3",
                          details={"recipient": "j***@example.com", "providerMessageId": "<ntf_3.x1@paymesh.local>"})
    assert response.status_code == 204
    leak = audit.post("notifications", event_id="leak2", action="notification.sent", subject="n4",
                      details={"note": "sent <ntf_4@paymesh.local> to jane.doe@example.com"})
    assert leak.status_code == 200  # an address in running text is still found


def test_gap_and_fork_in_an_upstream_sequence(audit: Audit) -> None:
    for number in (1, 2):
        assert audit.post(event_id=f"s{number}", sequence=number).status_code == 204
    assert audit.post(event_id="s5", sequence=5).status_code == 200
    gap = only_alert(audit, "upstream-sequence-gap")
    assert gap["triggeringEventIds"] == ["s5"] and gap["severity"] == "medium"
    assert audit.post(event_id="s3", sequence=3).status_code == 204  # a late event fills the hole
    assert audit.post(event_id="s2-again", sequence=2).status_code == 200
    fork = only_alert(audit, "upstream-sequence-fork")
    assert fork["triggeringEventIds"] == ["s2", "s2-again"] and fork["severity"] == "high"
    # Another stream numbers independently.
    assert audit.post(event_id="t9", sequence=9, stream="other").status_code == 204


def test_alerts_are_counted_and_redelivery_does_not_realert(audit: Audit) -> None:
    def violations() -> float:
        return REGISTRY.get_sample_value("compliance_violations_total", {"rule": "ledger-rejection", "severity": "medium"}) or 0.0

    before = violations()
    for _ in range(2):
        audit.post("ledger", event_id="rej-1", action="transaction.rejected", subject="txn_1")
    assert violations() == before + 1
    assert len(audit.publisher.of_type("audit.compliance-alerts")) == 2  # the stored outcome, re-published
    assert len({event.id for event in audit.publisher.of_type("audit.compliance-alerts")}) == 1
    assert REGISTRY.get_sample_value("audit_events_total", {"service": "ledger", "outcome": "success"})


def test_scrub_and_luhn() -> None:
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
    clean, findings = scrub({"a": "no secrets, amount 12.34, id 2026-01-01", "b": True})
    assert clean == {"a": "no secrets, amount 12.34, id 2026-01-01", "b": True} and findings == []
