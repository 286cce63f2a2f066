"""The ledger function: double-entry bookkeeping on CloudEvents (DESIGN §7, functions/ledger/README.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from functions.ledger import queries
from functions.ledger.accounts import DEFAULT_RULES, AccountDefinition, AccountRule, declare
from functions.ledger.book import Ledger, Leg, Outcome
from functions.ledger.metrics import BALANCES, ENTRIES_WRITTEN
from functions.ledger.models import TABLES
from functions.ledger.recipes import payment_legs, payment_transaction_id, refund_legs, refund_transaction_id
from shared.config import RuntimeSettings
from shared.contract import Context, Emit, FunctionSpec
from shared.events import (
    BalanceUpdated,
    LedgerAuditEvent,
    PaymentProcessed,
    RefundProcessed,
    TransactionRequested,
)
from shared.store import Store

log = logging.getLogger("paymesh.ledger")

OUTPUTS = frozenset({BalanceUpdated.type_name, LedgerAuditEvent.type_name})
AUDIT_ACTION = {"posted": "transaction.posted", "pending": "transaction.pending", "voided": "transaction.voided",
                "rejected": "transaction.rejected"}


class LedgerSettings(RuntimeSettings):
    ledger_account_rules: tuple[AccountRule, ...] = Field(
        default=DEFAULT_RULES,
        description="JSON list of {pattern, type, flags...}; first match gives a new account its type and flags")
    ledger_accounts: tuple[AccountDefinition, ...] = Field(
        default=(), description="JSON list of {name, type, flags..., metadata}: accounts created at start-up")


def declare_accounts(settings: LedgerSettings) -> Callable[[Store], None]:
    def attach(store: Store) -> None:
        mismatched = store.run(lambda session: declare(session, settings.ledger_accounts, datetime.now(UTC)))
        for name in mismatched:
            log.warning("declared account differs from the stored one; the stored one stands",
                        extra={"account": name})
    return attach


def _rules(ctx: Context) -> tuple[AccountRule, ...]:
    settings = ctx.settings
    return settings.ledger_account_rules if isinstance(settings, LedgerSettings) else DEFAULT_RULES


def _emits(ctx: Context, outcome: Outcome, description: str | None) -> list[Emit]:
    if outcome.status == "unchanged":
        return []
    emits = [Emit(BalanceUpdated(account=balance.account, currency=balance.currency, posted=balance.wire()["posted"],
                                 pending=balance.wire()["pending"], available=balance.wire()["available"],
                                 transaction_id=outcome.transaction_id, updated_at=ctx.now))
             for balance in outcome.balances]
    details: dict[str, object] = {"status": outcome.status, "postings": [leg.wire() for leg in outcome.legs]}
    if description:
        details["description"] = description
    if outcome.reason:
        details.update(reason=outcome.reason, message=outcome.message)
    emits.append(Emit(LedgerAuditEvent(
        service="ledger", action=AUDIT_ACTION[outcome.status],
        outcome="rejected" if outcome.status == "rejected" else "success", actor=ctx.event.source,
        subject=outcome.transaction_id, correlation_id=ctx.event.correlation_id, occurred_at=ctx.now,
        details=details)))
    return emits


def _ledger(ctx: Context) -> Ledger:
    ledger = Ledger(ctx.session, _rules(ctx), ctx.now)

    def count_entries() -> None:
        for currency, count in ledger.entries_written.items():
            ENTRIES_WRITTEN.labels(currency).inc(count)

    ctx.after_commit(count_entries)
    return ledger


def on_transaction_requested(ctx: Context, data: TransactionRequested) -> list[Emit]:
    ledger = _ledger(ctx)
    if data.action == "post":
        return _emits(ctx, ledger.post(data.transaction_id), data.description)
    if data.action == "void":
        return _emits(ctx, ledger.void(data.transaction_id), data.description)
    legs = [Leg(posting.account, posting.currency, posting.direction, posting.money.minor) for posting in data.postings]
    outcome = ledger.create(data.transaction_id, legs, pending=data.pending, description=data.description,
                            metadata=data.metadata, effective_at=data.effective_at)
    return _emits(ctx, outcome, data.description)


def _post_recipe(ctx: Context, transaction_id: str, legs: list[Leg], *, description: str,
                 metadata: dict[str, str], effective_at: datetime) -> list[Emit]:
    outcome = _ledger(ctx).create(transaction_id, legs, description=description, metadata=metadata,
                                  effective_at=effective_at)
    return _emits(ctx, outcome, description)


def on_payment_processed(ctx: Context, data: PaymentProcessed) -> list[Emit]:
    return _post_recipe(ctx, payment_transaction_id(data.payment_id), payment_legs(data),
                        description=f"payment {data.payment_id} captured by {data.gateway}",
                        metadata={"paymentId": data.payment_id, "gatewayReference": data.gateway_reference},
                        effective_at=data.processed_at)


def on_refund_processed(ctx: Context, data: RefundProcessed) -> list[Emit]:
    return _post_recipe(ctx, refund_transaction_id(data.refund_id), refund_legs(data),
                        description=f"refund {data.refund_id} of payment {data.payment_id}",
                        metadata={"paymentId": data.payment_id, "refundId": data.refund_id},
                        effective_at=data.processed_at)


def build_spec(settings: LedgerSettings) -> FunctionSpec:
    spec = FunctionSpec("ledger", OUTPUTS, migrations=Path(__file__).parent / "migrations", tables=TABLES)
    spec.on(TransactionRequested, on_transaction_requested)
    spec.on(PaymentProcessed, on_payment_processed)
    spec.on(RefundProcessed, on_refund_processed)
    spec.get("/accounts/{account}/balances", queries.balances)
    spec.get("/accounts/{account}/entries", queries.entries)
    spec.get("/transactions/{transaction_id}", queries.transaction)
    spec.get("/trial-balance", queries.trial_balance)
    spec.on_store.append(BALANCES.attach)
    if settings.ledger_accounts:
        spec.on_store.append(declare_accounts(settings))
    return spec
