"""The ledger function: double-entry bookkeeping on CloudEvents (DESIGN §7). Wiring only: settings -> spec."""

from __future__ import annotations

from pathlib import Path

from functions.ledger import reconciliation_routes, routes
from functions.ledger.dispute_handlers import DisputeHandlers
from functions.ledger.handlers import LedgerHandlers
from functions.ledger.metrics import BALANCES
from functions.ledger.models import TABLES
from functions.ledger.reconciliation_handlers import ReconciliationHandlers
from functions.ledger.settings import LedgerSettings
from shared.contract import FunctionSpec, Param
from shared.events import (
    BalanceUpdated,
    ComplianceAlert,
    DisputeClosed,
    DisputeOpened,
    LedgerAuditEvent,
    PaymentProcessed,
    PayoutCreated,
    PayoutFailed,
    PayoutPaid,
    PingTick,
    RefundProcessed,
    SettlementReported,
    SettlementRequested,
    TransactionRequested,
)

OUTPUTS = frozenset({BalanceUpdated.type_name, LedgerAuditEvent.type_name, PayoutCreated.type_name,
                     ComplianceAlert.type_name})


def build_spec(settings: LedgerSettings) -> FunctionSpec:
    handlers = LedgerHandlers(settings)
    spec = FunctionSpec("ledger", OUTPUTS, migrations=Path(__file__).parent / "migrations", tables=TABLES)
    spec.on(TransactionRequested, handlers.transaction_requested)
    spec.on(PaymentProcessed, handlers.payment_processed)
    spec.on(RefundProcessed, handlers.refund_processed)
    spec.on(SettlementRequested, handlers.settlement_requested)
    spec.on(PayoutPaid, handlers.payout_paid)
    spec.on(PayoutFailed, handlers.payout_failed)
    disputes = DisputeHandlers(handlers)
    spec.on(DisputeOpened, disputes.dispute_opened)
    spec.on(DisputeClosed, disputes.dispute_closed)
    spec.on(SettlementReported, ReconciliationHandlers(handlers).settlement_reported)
    spec.get("/reconciliations/{batch_id}", reconciliation_routes.reconciliation,
             summary="A reconciled settlement batch: every line's status (matched, amount_mismatch, already_settled, "
                     "unmatched, missing)",
             params=[Param("gateway", description="the gateway, when several reported this batch id", max_chars=64)],
             errors=[400, 404])
    spec.on(PingTick, handlers.settlement_tick)
    spec.get("/accounts/{account}/balances", routes.balances,
             summary="An account's posted, pending and available balance per currency, now or at a past instant",
             params=[Param("at", "time", "answer from the entries effective at or before this instant")])
    spec.get("/accounts/{account}/entries", routes.entries, summary="An account's entries, oldest first",
             params=[Param("cursor", "integer", "the nextCursor of the previous page", minimum=0,
                           maximum=routes.CURSOR_MAX, default=0),
                     Param("limit", "integer", "entries per page", minimum=1, maximum=routes.PAGE_ENTRIES_MAX,
                           default=100),
                     Param("currency", "text", "only this currency (ISO 4217)", max_chars=3),
                     Param("from", "time", "only entries effective after this instant"),
                     Param("to", "time", "only entries effective at or before this instant")])
    spec.get("/transactions/{transaction_id}", routes.transaction,
             summary="A transaction: status, postings and metadata")
    spec.get("/trial-balance", routes.trial_balance, summary="Debits and credits per currency: they must be equal")
    spec.on_store.append(BALANCES.attach)
    if settings.ledger_accounts:
        spec.on_store.append(handlers.declare_accounts)
    return spec
