"""Compliance rules run on every stored audit record; each that fires becomes an audit.compliance-alerts event.

Rules (id, severity):
- large-transaction (high): an amount in the payload (details.amount/currency, details.totals as
  {currency: amount} or [{currency, amount}], or details.postings) at or above the currency's threshold.
- failed-payments-velocity (high): `threshold` payment.failed / fraud.declined records for one customer
  (details.customerId) within the window ending at this record's time; fires at threshold, 2x, 3x...
- ledger-rejection (medium): action transaction.rejected.
- pan-exposed (critical) / unmasked-recipient (high): a PAN, or an unmasked email or phone number, anywhere
  in the payload (it is stored masked).
- upstream-sequence-gap (medium) / upstream-sequence-fork (high): producers may number their audit events
  with an integer `sequence` (top-level, so it lands in metadata) per stream (`stream`, default the
  CloudEvent source). A sequence more than one past the highest seen is a gap; a sequence already seen
  with another event id is a fork. A late event that fills a hole raises nothing.

An alert's id is derived from the rule and the triggering event ids, so a recomputed alert is a duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from functions.audit.leaves import NewRecord
from functions.audit.sensitive import Finding
from shared.events import ComplianceAlert
from shared.money import Money, MoneyError

Severity = Literal["low", "medium", "high", "critical"]
FAILED_PAYMENT_ACTIONS = ("payment.failed", "fraud.declined")


class History(Protocol):
    """What the rules need to know about earlier records (the repository answers it)."""

    def failed_event_ids(self, customer_id: str, actions: Sequence[str], after: datetime,
                         until: datetime) -> list[str]: ...

    def upstream_event_id(self, stream: str, sequence: int) -> str | None: ...

    def upstream_highest(self, stream: str) -> int | None: ...

    def remember_upstream(self, stream: str, sequence: int, event_id: str, seen_at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class RuleSettings:
    large_thresholds: dict[str, str]
    failed_threshold: int
    failed_window: timedelta


def alert_id(rule_id: str, event_ids: list[str]) -> str:
    digest = hashlib.sha256("\x1f".join([rule_id, *event_ids]).encode()).hexdigest()
    return "alr_" + digest[:32]


def make_alert(rule_id: str, severity: Severity, message: str, *, subject: str | None, event_ids: list[str],
               raised_at: datetime) -> ComplianceAlert:
    return ComplianceAlert(alert_id=alert_id(rule_id, event_ids), rule_id=rule_id, severity=severity,
                           message=message, subject=subject, triggering_event_ids=event_ids, raised_at=raised_at)


def _amounts(details: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    if "amount" in details and "currency" in details:
        yield details["amount"], details["currency"]
    totals = details.get("totals")
    if isinstance(totals, dict):
        yield from ((amount, currency) for currency, amount in totals.items())
    elif isinstance(totals, list):
        yield from ((item.get("amount"), item.get("currency")) for item in totals if isinstance(item, dict))
    postings = details.get("postings")
    if isinstance(postings, list):
        debits: dict[str, int] = {}
        for posting in postings:
            if isinstance(posting, dict) and posting.get("direction") == "debit":
                try:
                    money = Money.parse(str(posting.get("amount")), str(posting.get("currency")))
                except MoneyError:
                    continue
                debits[money.currency] = debits.get(money.currency, 0) + money.minor
        for currency, minor in debits.items():
            yield Money(currency, minor).amount, currency


def large_transaction(record: NewRecord, details: dict[str, Any], settings: RuleSettings) -> ComplianceAlert | None:
    for amount, currency in _amounts(details):
        threshold_text = settings.large_thresholds.get(str(currency))
        if threshold_text is None:
            continue
        try:
            money = Money.parse(str(amount), str(currency))
            threshold = Money.parse(threshold_text, str(currency))
        except MoneyError:
            continue
        if money.minor >= threshold.minor:
            return make_alert("large-transaction", "high",
                              f"{record.action} of {money.amount} {money.currency} reaches the "
                              f"{threshold.amount} {money.currency} threshold",
                              subject=record.subject, event_ids=[record.event_id], raised_at=record.recorded_at)
    return None


def failed_payments(history: History, record: NewRecord, settings: RuleSettings) -> ComplianceAlert | None:
    if record.action not in FAILED_PAYMENT_ACTIONS or not record.customer_id:
        return None
    event_ids = history.failed_event_ids(record.customer_id, FAILED_PAYMENT_ACTIONS,
                                         record.occurred_at - settings.failed_window, record.occurred_at)
    count = len(event_ids)
    if count < settings.failed_threshold or count % settings.failed_threshold:
        return None
    minutes = int(settings.failed_window.total_seconds() // 60)
    return make_alert("failed-payments-velocity", "high",
                      f"{count} failed payments for customer {record.customer_id} within {minutes} minutes",
                      subject=record.customer_id, event_ids=event_ids, raised_at=record.recorded_at)


def ledger_rejection(record: NewRecord) -> ComplianceAlert | None:
    if record.action != "transaction.rejected":
        return None
    return make_alert("ledger-rejection", "medium", f"ledger rejected transaction {record.subject}",
                      subject=record.subject, event_ids=[record.event_id], raised_at=record.recorded_at)


def sensitive_data(record: NewRecord, findings: list[Finding]) -> list[ComplianceAlert]:
    alerts = []
    pans = sorted({finding.path for finding in findings if finding.kind == "pan"})
    if pans:
        alerts.append(make_alert("pan-exposed", "critical",
                                 f"card number in {record.service} audit payload at {', '.join(pans)} (stored masked)",
                                 subject=record.subject, event_ids=[record.event_id], raised_at=record.recorded_at))
    recipients = sorted({finding.path for finding in findings if finding.kind in {"email", "phone"}})
    if recipients:
        alerts.append(make_alert("unmasked-recipient", "high",
                                 f"unmasked email or phone in {record.service} audit payload at "
                                 f"{', '.join(recipients)} (stored masked)",
                                 subject=record.subject, event_ids=[record.event_id], raised_at=record.recorded_at))
    return alerts


def upstream_sequence(history: History, record: NewRecord, metadata: dict[str, Any]) -> ComplianceAlert | None:
    sequence = metadata.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        return None
    stream_name = metadata.get("stream")
    stream = f"{record.service}|{stream_name if isinstance(stream_name, str) else record.event_source}"[:600]
    seen = history.upstream_event_id(stream, sequence)
    if seen is not None:
        if seen == record.event_id:
            return None
        return make_alert("upstream-sequence-fork", "high",
                          f"stream {stream} used sequence {sequence} for two events",
                          subject=record.subject, event_ids=[seen, record.event_id], raised_at=record.recorded_at)
    highest = history.upstream_highest(stream)
    history.remember_upstream(stream, sequence, record.event_id, record.recorded_at)
    if highest is not None and sequence > highest + 1:
        return make_alert("upstream-sequence-gap", "medium",
                          f"stream {stream} jumped from sequence {highest} to {sequence}",
                          subject=record.subject, event_ids=[record.event_id], raised_at=record.recorded_at)
    return None


def evaluate(history: History, record: NewRecord, details: dict[str, Any], *, metadata: dict[str, Any],
             findings: list[Finding], settings: RuleSettings) -> list[ComplianceAlert]:
    alerts: list[ComplianceAlert | None] = [
        large_transaction(record, details, settings),
        failed_payments(history, record, settings),
        ledger_rejection(record),
        *sensitive_data(record, findings),
        upstream_sequence(history, record, metadata),
    ]
    return [alert for alert in alerts if alert is not None]
