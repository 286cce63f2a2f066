"""The payments function's wiring: settings -> gateway, handlers and routes -> FunctionSpec.

The flow is in handlers.py, the settings in settings.py, all SQL in repository.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from functions.payments.gateways import Gateway
from functions.payments.gateways.guarded import GuardedGateway
from functions.payments.gateways.simulated import SimulatedGateway
from functions.payments.handlers import PaymentHandlers
from functions.payments.models import TABLES
from functions.payments.routes import PAYMENT_SCHEMA, payment_view
from functions.payments.settings import PaymentsSettings
from shared.breaker import Breaker
from shared.contract import FunctionSpec
from shared.events import (
    PaymentAuditEvent,
    PaymentFailed,
    PaymentProcessed,
    PaymentRequested,
    RefundFailed,
    RefundProcessed,
    RefundRequested,
)

__all__ = ["OUTPUTS", "build_gateway", "build_spec"]

OUTPUTS = frozenset({PaymentProcessed.type_name, PaymentFailed.type_name, RefundProcessed.type_name,
                     RefundFailed.type_name, PaymentAuditEvent.type_name})


def build_gateway(settings: PaymentsSettings) -> Gateway:
    if settings.payments_gateway == "stripe":
        from functions.payments.gateways.stripe_gateway import StripeGateway

        return StripeGateway.from_settings(settings)
    return SimulatedGateway()


def build_spec(settings: PaymentsSettings, gateway: Gateway | None = None) -> FunctionSpec:
    breaker = Breaker(settings.payments_gateway_breaker_failures,
                      timedelta(seconds=settings.payments_gateway_breaker_cooldown_seconds))
    handlers = PaymentHandlers(settings, GuardedGateway(gateway or build_gateway(settings), breaker))
    spec = FunctionSpec("payments", OUTPUTS, migrations=Path(__file__).parent / "migrations", tables=TABLES)
    spec.on(PaymentRequested, handlers.payment_requested)
    spec.on(RefundRequested, handlers.refund_requested)
    spec.get("/payments/{payment_id}", payment_view, summary="A payment: its state, amounts and gateway reference",
             response=PAYMENT_SCHEMA)
    return spec
