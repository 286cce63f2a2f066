"""The audit function: a transparency log (RFC 6962 tree, signed checkpoints) of every audit.* event, with
compliance alerts. Wiring only: settings -> FunctionSpec."""

from __future__ import annotations

from pathlib import Path

from functions.audit import handlers
from functions.audit.integrator import Integrator
from functions.audit.models import TABLES
from functions.audit.records import DEFAULT_LIMIT, FILTERS, MAX_LIMIT
from functions.audit.routes import CHECKPOINTS_LIMIT_MAX, SIZE_MAX, AuditRoutes
from functions.audit.settings import AuditSettings
from shared.contract import FunctionSpec, Param
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
                        migrations=Path(__file__).parent / "migrations", tables=TABLES,
                        batch_transaction=True)  # a batch is one integration round, not one per record
    signing = settings.signing()
    integrator = Integrator(signing)
    spec.on_store.append(integrator.attach_store)
    spec.on_publisher.append(integrator.attach_publisher)
    handle = handlers.bind(settings, integrator)
    spec.on(PaymentAuditEvent, handle)
    spec.on(LedgerAuditEvent, handle)
    spec.on(NotificationAuditEvent, handle)
    routes = AuditRoutes(signing)
    window = [Param(name, "text", f"only records whose {name} is this") for name in FILTERS] + [
        Param("from", "time", "only records that occurred at or after this instant"),
        Param("to", "time", "only records that occurred before this instant")]
    spec.get("/events", routes.list_events, summary="Audit records, newest first, each with its leaf",
             params=[*window, Param("limit", "integer", "records per page", minimum=1, maximum=MAX_LIMIT,
                                    default=DEFAULT_LIMIT),
                     Param("cursor", "text", "the nextCursor of the previous page")])
    spec.get("/events/{id}", routes.get_event, summary="One audit record with its leafIndex and leaf")
    spec.get("/export", routes.export_events, summary="Every matching record as JSON lines", params=window)
    spec.get("/checkpoint", routes.checkpoint, summary="The newest signed checkpoint (C2SP signed note)",
             content_type="text/plain; charset=utf-8")
    spec.get("/checkpoints", routes.list_checkpoints, summary="Earlier checkpoints, newest first",
             params=[Param("limit", "integer", "checkpoints", minimum=1, maximum=CHECKPOINTS_LIMIT_MAX,
                           default=100)])
    spec.get("/proof/inclusion", routes.inclusion_proof, summary="RFC 6962 audit path of leaf `index` in tree `size`",
             params=[Param("index", "integer", "0-based leaf index", required=True, minimum=0, maximum=SIZE_MAX),
                     Param("size", "integer", "tree size", required=True, minimum=1, maximum=SIZE_MAX)])
    spec.get("/proof/consistency", routes.consistency_proof,
             summary="RFC 6962 consistency proof from tree `from` to tree `size`",
             params=[Param("from", "integer", "the earlier tree size", required=True, minimum=1, maximum=SIZE_MAX),
                     Param("size", "integer", "the later tree size", required=True, minimum=1, maximum=SIZE_MAX)])
    spec.get("/verify", routes.verify_log, summary="Recompute the tree from the leaves and check every checkpoint")
    spec.get("/holds", routes.list_holds, summary="Legal holds",
             params=[Param("active", "text", "only active holds", choices=("true", "false"), max_chars=5)])
    return spec
