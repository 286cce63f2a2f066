"""Storing one audit event: scrub, append to the chain, run the compliance rules.

`bind(settings)` gives the handler for the function's own settings, at wiring time (app.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from functions.audit import chain, rules
from functions.audit.metrics import AUDIT_EVENTS, COMPLIANCE_VIOLATIONS
from functions.audit.models import AuditRecord
from functions.audit.repository import Repository
from functions.audit.sensitive import Finding, scrub
from functions.audit.settings import AuditSettings
from shared.contract import Context, Emit
from shared.events import AuditEvent, ComplianceAlert


def _plain(value: Any) -> Any:
    """JSON-ready: the runtime decodes JSON numbers as Decimal; keep integers as int, others as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "E" not in str(value) else str(value)
    if isinstance(value, dict):
        return {str(key): _plain(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(child) for child in value]
    return value


@dataclass(frozen=True, slots=True)
class Incoming:
    """An audit event with the CloudEvent attributes the log keeps."""

    data: AuditEvent
    event_source: str
    event_id: str
    event_type: str
    correlation_id: str


@dataclass(frozen=True, slots=True)
class _Prepared:
    new: chain.NewRecord
    details: dict[str, Any]
    metadata: dict[str, Any]
    findings: list[Finding]


def _prepare(item: Incoming, now: datetime) -> _Prepared:
    data = item.data
    payload, findings = scrub(_plain(data.wire()))
    details = payload.get("details") if isinstance(payload.get("details"), dict) else {}
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
    customer = details.get("customerId")
    new = chain.NewRecord(
        event_source=item.event_source, event_id=item.event_id, event_type=item.event_type, service=data.service,
        action=data.action, outcome=data.outcome, actor=str(payload.get("actor", data.actor))[:200],
        subject=str(payload.get("subject", data.subject))[:200],
        correlation_id=(data.correlation_id or item.correlation_id)[:200],
        customer_id=customer[:200] if isinstance(customer, str) and customer else None,
        occurred_at=data.occurred_at, recorded_at=now, data=chain.canonical_json(payload))
    return _Prepared(new, details, metadata, findings)


def record_events(repository: Repository, items: list[Incoming], *, now: datetime, settings: rules.RuleSettings
                  ) -> tuple[list[AuditRecord], list[ComplianceAlert]]:
    """Append `items` (masked) to the chain in order; answer the records and the alerts they raise.

    Rules run after the whole batch is inserted, so with several items a window rule may also count a
    later item of the same batch; the HTTP path always passes one item.
    """
    prepared = [_prepare(item, now) for item in items]
    records = chain.append_many(repository, [item.new for item in prepared])
    alerts: list[ComplianceAlert] = []
    for record, item in zip(records, prepared, strict=True):
        raised = rules.evaluate(repository, record, item.details, metadata=item.metadata, findings=item.findings,
                                settings=settings)
        alerts += raised
    return records, alerts


AuditHandler = Callable[[Context, AuditEvent], list[Emit]]


def bind(settings: AuditSettings) -> AuditHandler:
    """The handler of the three audit event types, for these settings."""
    rule_settings = settings.rule_settings()

    def handle(ctx: Context, data: AuditEvent) -> list[Emit]:
        item = Incoming(data, ctx.event.source, ctx.event.id, ctx.event.type, ctx.event.correlation_id)
        records, alerts = record_events(Repository(ctx.session), [item], now=ctx.now, settings=rule_settings)

        def count() -> None:
            for record in records:
                AUDIT_EVENTS.labels(record.service, record.outcome).inc()
            for alert in alerts:
                COMPLIANCE_VIOLATIONS.labels(alert.rule_id, alert.severity).inc()

        ctx.after_commit(count)
        return [Emit(alert, subject=alert.subject or alert.alert_id, partition_key=alert.alert_id)
                for alert in alerts]

    return handle
