"""The audit function: an append-only, hash-chained log of every audit.* event, with compliance alerts.
Wiring only: settings -> FunctionSpec."""

from __future__ import annotations

from pathlib import Path

from functions.audit import handlers
from functions.audit.models import TABLES
from functions.audit.routes import AuditRoutes
from functions.audit.settings import AuditSettings
from shared.contract import FunctionSpec
from shared.events import ComplianceAlert, LedgerAuditEvent, NotificationAuditEvent, PaymentAuditEvent

__all__ = ["AuditSettings", "build_spec"]


def build_spec(settings: AuditSettings) -> FunctionSpec:
    spec = FunctionSpec(name="audit", outputs=frozenset({ComplianceAlert.type_name}),
                        migrations=Path(__file__).parent / "migrations", tables=TABLES)
    handle = handlers.bind(settings)
    spec.on(PaymentAuditEvent, handle)
    spec.on(LedgerAuditEvent, handle)
    spec.on(NotificationAuditEvent, handle)
    routes = AuditRoutes(settings)
    spec.get("/events", routes.list_events)
    spec.get("/events/{id}", routes.get_event)
    spec.get("/export", routes.export_events)
    spec.get("/verify", routes.verify_chain)
    spec.get("/checkpoints", routes.list_checkpoints)
    spec.get("/holds", routes.list_holds)
    return spec
