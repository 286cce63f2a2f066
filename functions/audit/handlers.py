"""Storing one audit event: scrub, accept it as pending, run the compliance rules, and integrate it right
there when no integrator is busy; otherwise, once the event's transaction has committed, wait until the
record is integrated into the tree (integrator.py). Either way the delivery's 2xx means the record is in
the tree and in a signed checkpoint.

`bind(settings, integrator)` gives the handler for the function's own settings, at wiring time (app.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from functions.audit import rules
from functions.audit.canonical import SAFE_INTEGER_MAX, canonical_json
from functions.audit.integrator import Integrator
from functions.audit.leaves import NewRecord
from functions.audit.metrics import AUDIT_EVENTS, COMPLIANCE_VIOLATIONS
from functions.audit.repository import Repository
from functions.audit.sensitive import Finding, scrub
from functions.audit.settings import AuditSettings
from shared.contract import Context, Emit
from shared.events import AuditEvent, ComplianceAlert


def _plain(value: Any) -> Any:
    """JSON-ready: the runtime decodes JSON numbers as Decimal; keep integers a double holds exactly as int,
    others as text (so the canonical JSON of a leaf never needs a float)."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and "E" not in str(value) and abs(value) <= SAFE_INTEGER_MAX:
            return int(value)
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE_INTEGER_MAX:
        return str(value)
    if isinstance(value, float):
        return repr(value)
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
    new: NewRecord
    details: dict[str, Any]
    metadata: dict[str, Any]
    findings: list[Finding]


def _prepare(item: Incoming, now: datetime) -> _Prepared:
    data = item.data
    payload, findings = scrub(_plain(data.wire()))
    details = payload.get("details") if isinstance(payload.get("details"), dict) else {}
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
    customer = details.get("customerId")
    new = NewRecord(
        event_source=item.event_source, event_id=item.event_id, event_type=item.event_type, service=data.service,
        action=data.action, outcome=data.outcome, actor=str(payload.get("actor", data.actor))[:200],
        subject=str(payload.get("subject", data.subject))[:200],
        correlation_id=(data.correlation_id or item.correlation_id)[:200],
        customer_id=customer[:200] if isinstance(customer, str) and customer else None,
        occurred_at=data.occurred_at, recorded_at=now, data=canonical_json(payload))
    return _Prepared(new, details, metadata, findings)


def record_events(repository: Repository, items: list[Incoming], *, now: datetime, settings: rules.RuleSettings
                  ) -> tuple[list[int], list[NewRecord], list[ComplianceAlert]]:
    """Accept `items` (masked) as pending records; answer their pending ids, the records and the alerts.

    Rules see integrated and pending records, so a window rule counts this item and any earlier one.
    """
    prepared = [_prepare(item, now) for item in items]
    pending_ids: list[int] = []
    alerts: list[ComplianceAlert] = []
    for item in prepared:
        pending_ids.append(repository.insert_pending(item.new.values()))
        alerts += rules.evaluate(repository, item.new, item.details, metadata=item.metadata,
                                 findings=item.findings, settings=settings)
    return pending_ids, [item.new for item in prepared], alerts


AuditHandler = Callable[[Context, AuditEvent], list[Emit]]


def bind(settings: AuditSettings, integrator: Integrator) -> AuditHandler:
    """The handler of the three audit event types, for these settings."""
    rule_settings = settings.rule_settings()

    def handle(ctx: Context, data: AuditEvent) -> list[Emit]:
        item = Incoming(data, ctx.event.source, ctx.event.id, ctx.event.type, ctx.event.correlation_id)
        repository = Repository(ctx.session)
        pending_ids, records, alerts = record_events(repository, [item], now=ctx.now, settings=rule_settings)
        early = integrator.try_integrate(repository, ctx.now)

        def integrated() -> None:
            if early is not None:
                integrator.integrated(early)
            for pending_id in pending_ids:
                if early is None or pending_id not in early.taken:
                    integrator.wait(pending_id)
            for record in records:
                AUDIT_EVENTS.labels(record.service, record.outcome).inc()
            for alert in alerts:
                COMPLIANCE_VIOLATIONS.labels(alert.rule_id, alert.severity).inc()

        ctx.after_commit(integrated)
        return [Emit(alert, subject=alert.subject or alert.alert_id, partition_key=alert.alert_id)
                for alert in alerts]

    return handle
