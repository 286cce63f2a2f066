"""Storing audit events: scrub each and run the compliance rules on it; then, once every event of the
transaction (one delivery, or a CloudEvents batch handled as one) is accepted, integrate its records into
the tree in that transaction. A batch waits for the integrator; a single record is integrated there only
when the integrator is free, else stored as pending and, once the transaction has committed, waited for
until the next round integrates it (integrator.py). Either way the delivery's 2xx means its records are
in the tree and in a signed checkpoint.

`bind(settings, integrator)` gives the handler for the function's own settings, at wiring time (app.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from functions.audit import rules
from functions.audit.canonical import SAFE_INTEGER_MAX, canonical_json
from functions.audit.integrator import Integrator, Round
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


class _Batch:
    """The audit events of one transaction (one delivery, or a CloudEvents batch handled as one), integrated
    together when the transaction closes."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.records: list[NewRecord] = []
        self.alerts: list[ComplianceAlert] = []
        self.pending_ids: list[int] = []
        self.early: Round | None = None

    # rules.History: what is stored, and the records of this batch before and including the current one
    def failed_event_ids(self, customer_id: str, actions: Sequence[str], after: datetime,
                         until: datetime) -> list[str]:
        stored = self.repository.failed_events(customer_id, actions, after, until)
        mine = [(record.event_id, record.occurred_at) for record in self.records
                if record.customer_id == customer_id and record.action in actions
                and after < record.occurred_at <= until]
        if not mine:
            return [event_id for event_id, _ in stored]
        # Stored (integrated, then pending) before this batch's at the same time: the order the log will hold.
        merged = [(_utc(at), 0, event_id) for event_id, at in stored]
        merged += [(_utc(at), 1, event_id) for event_id, at in mine]
        return [event_id for _, _, event_id in sorted(merged, key=lambda item: (item[0], item[1]))]

    def upstream_event_id(self, stream: str, sequence: int) -> str | None:
        return self.repository.upstream_event_id(stream, sequence)

    def upstream_highest(self, stream: str) -> int | None:
        return self.repository.upstream_highest(stream)

    def remember_upstream(self, stream: str, sequence: int, event_id: str, seen_at: datetime) -> None:
        self.repository.remember_upstream(stream, sequence, event_id, seen_at)

    def accept(self, item: Incoming, now: datetime, settings: rules.RuleSettings) -> list[ComplianceAlert]:
        """Scrub `item`, run the rules on it (counting it and the batch's earlier records); answer its alerts."""
        prepared = _prepare(item, now)
        self.records.append(prepared.new)
        alerts = rules.evaluate(self, prepared.new, prepared.details, metadata=prepared.metadata,
                                findings=prepared.findings, settings=settings)
        self.alerts += alerts
        return alerts

    def close(self, integrator: Integrator, now: datetime) -> None:
        """Integrate the records in this transaction; a single record only when no integrator is busy, else
        it is stored as pending and integrated by the next round (a batch waits for its turn instead: one
        round for all its records beats a pending row and a wait each)."""
        self.early = integrator.append(self.repository, now, self.records, block=len(self.records) > 1)
        if self.early is None:
            self.pending_ids = [self.repository.insert_pending(record.values()) for record in self.records]

    def integrated(self, integrator: Integrator) -> None:
        """After the commit: wait until every record of the batch is in the tree and a signed checkpoint."""
        early = self.early
        if early is not None:
            integrator.integrated(early)
        integrator.wait(self.pending_ids)
        for record in self.records:
            AUDIT_EVENTS.labels(record.service, record.outcome).inc()
        for alert in self.alerts:
            COMPLIANCE_VIOLATIONS.labels(alert.rule_id, alert.severity).inc()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


AuditHandler = Callable[[Context, AuditEvent], list[Emit]]


def bind(settings: AuditSettings, integrator: Integrator) -> AuditHandler:
    """The handler of the three audit event types, for these settings."""
    rule_settings = settings.rule_settings()

    def handle(ctx: Context, data: AuditEvent) -> list[Emit]:
        batch: _Batch | None = ctx.scratch.get("audit")
        if batch is None:
            batch = ctx.scratch["audit"] = _Batch(Repository(ctx.session))
            opened = batch
            ctx.before_commit(lambda: opened.close(integrator, ctx.now))
            ctx.after_commit(lambda: opened.integrated(integrator))
        item = Incoming(data, ctx.event.source, ctx.event.id, ctx.event.type, ctx.event.correlation_id)
        alerts = batch.accept(item, ctx.now, rule_settings)
        return [Emit(alert, subject=alert.subject or alert.alert_id, partition_key=alert.alert_id)
                for alert in alerts]

    return handle
