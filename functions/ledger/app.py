"""The ledger function: double-entry bookkeeping on CloudEvents (DESIGN §7). Wiring only: settings -> spec."""

from __future__ import annotations

from pathlib import Path

from functions.ledger import routes
from functions.ledger.handlers import LedgerHandlers
from functions.ledger.metrics import BALANCES
from functions.ledger.models import TABLES
from functions.ledger.settings import LedgerSettings
from shared.contract import FunctionSpec
from shared.events import (
    BalanceUpdated,
    LedgerAuditEvent,
    PaymentProcessed,
    PayoutCreated,
    PayoutFailed,
    PayoutPaid,
    PingTick,
    RefundProcessed,
    SettlementRequested,
    TransactionRequested,
)

OUTPUTS = frozenset({BalanceUpdated.type_name, LedgerAuditEvent.type_name, PayoutCreated.type_name})


def build_spec(settings: LedgerSettings) -> FunctionSpec:
    handlers = LedgerHandlers(settings)
    spec = FunctionSpec("ledger", OUTPUTS, migrations=Path(__file__).parent / "migrations", tables=TABLES)
    spec.on(TransactionRequested, handlers.transaction_requested)
    spec.on(PaymentProcessed, handlers.payment_processed)
    spec.on(RefundProcessed, handlers.refund_processed)
    spec.on(SettlementRequested, handlers.settlement_requested)
    spec.on(PayoutPaid, handlers.payout_paid)
    spec.on(PayoutFailed, handlers.payout_failed)
    spec.on(PingTick, handlers.settlement_tick)
    spec.get("/accounts/{account}/balances", routes.balances)
    spec.get("/accounts/{account}/entries", routes.entries)
    spec.get("/transactions/{transaction_id}", routes.transaction)
    spec.get("/trial-balance", routes.trial_balance)
    spec.on_store.append(BALANCES.attach)
    if settings.ledger_accounts:
        spec.on_store.append(handlers.declare_accounts)
    return spec
