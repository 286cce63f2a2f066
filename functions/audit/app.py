"""The audit function: a transparency log (RFC 6962 tree, signed checkpoints) of every audit.* event, with
compliance alerts. Wiring only: settings -> FunctionSpec."""

from __future__ import annotations

from pathlib import Path

from functions.audit import handlers
from functions.audit.integrator import Integrator
from functions.audit.models import TABLES
from functions.audit.routes import AuditRoutes
from functions.audit.settings import AuditSettings
from shared.contract import FunctionSpec
from shared.events import (
    AuditCheckpointEvent,
    ComplianceAlert,
    LedgerAuditEvent,
    NotificationAuditEvent,
    PaymentAuditEvent,
)

__all__ = ["AuditSettings", "build_spec"]


def build_spec(settings: AuditSettings) -> FunctionSpec:
    spec = FunctionSpec(name="audit", outputs=frozenset({ComplianceAlert.type_name, AuditCheckpointEvent.type_name}),
                        migrations=Path(__file__).parent / "migrations", tables=TABLES)
    signing = settings.signing()
    integrator = Integrator(signing)
    spec.on_store.append(integrator.attach_store)
    spec.on_publisher.append(integrator.attach_publisher)
    handle = handlers.bind(settings, integrator)
    spec.on(PaymentAuditEvent, handle)
    spec.on(LedgerAuditEvent, handle)
    spec.on(NotificationAuditEvent, handle)
    routes = AuditRoutes(signing)
    spec.get("/events", routes.list_events)
    spec.get("/events/{id}", routes.get_event)
    spec.get("/export", routes.export_events)
    spec.get("/checkpoint", routes.checkpoint)
    spec.get("/checkpoints", routes.list_checkpoints)
    spec.get("/proof/inclusion", routes.inclusion_proof)
    spec.get("/proof/consistency", routes.consistency_proof)
    spec.get("/verify", routes.verify_log)
    spec.get("/holds", routes.list_holds)
    return spec
