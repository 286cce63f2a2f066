"""The audit function: an append-only, hash-chained log of every audit.* event, with compliance alerts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveInt, SecretStr

from functions.audit import handler, routes
from functions.audit.models import TABLES
from shared.config import RuntimeSettings
from shared.contract import FunctionSpec
from shared.events import ComplianceAlert, LedgerAuditEvent, NotificationAuditEvent, PaymentAuditEvent

SEVEN_YEARS_DAYS = 7 * 365 + 2  # leap days included


class AuditSettings(RuntimeSettings):
    audit_retention_days: PositiveInt = Field(default=SEVEN_YEARS_DAYS, description="records kept this long")
    audit_checkpoint_key: SecretStr | None = Field(default=None, description="HMAC-SHA256 key of checkpoints")
    audit_large_transaction_thresholds: dict[str, str] = Field(
        default_factory=lambda: {"USD": "10000", "EUR": "10000", "GBP": "10000", "CHF": "10000",
                                 "JPY": "1500000"},
        description='per-currency threshold in major units, JSON: {"USD": "10000"}')
    audit_failed_payments_threshold: PositiveInt = 5
    audit_failed_payments_window_minutes: PositiveInt = 60


def build_spec(settings: AuditSettings) -> FunctionSpec:
    spec = FunctionSpec(name="audit", outputs=frozenset({ComplianceAlert.type_name}),
                        migrations=Path(__file__).parent / "migrations", tables=TABLES)
    spec.on(PaymentAuditEvent, handler.handle)
    spec.on(LedgerAuditEvent, handler.handle)
    spec.on(NotificationAuditEvent, handler.handle)
    spec.get("/events", routes.list_events)
    spec.get("/events/{id}", routes.get_event)
    spec.get("/export", routes.export_events)
    spec.get("/verify", routes.verify_chain)
    spec.get("/checkpoints", routes.list_checkpoints)
    spec.get("/holds", routes.list_holds)
    return spec
