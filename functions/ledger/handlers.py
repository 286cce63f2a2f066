"""The ledger's event handlers, bound to its settings when the function is wired (functions/ledger/app.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from functions.ledger import repository
from functions.ledger.book import Ledger, Outcome
from functions.ledger.double_entry import Leg
from functions.ledger.metrics import ENTRIES_WRITTEN
from functions.ledger.recipes import payment_legs, payment_transaction_id, refund_legs, refund_transaction_id
from functions.ledger.settings import LedgerSettings
from shared.contract import Context, Emit
from shared.events import BalanceUpdated, LedgerAuditEvent, PaymentProcessed, RefundProcessed, TransactionRequested
from shared.store import Store

log = logging.getLogger("paymesh.ledger")

AUDIT_ACTION = {"posted": "transaction.posted", "pending": "transaction.pending", "voided": "transaction.voided",
                "rejected": "transaction.rejected"}


def emits(ctx: Context, outcome: Outcome, description: str | None) -> list[Emit]:
    if outcome.status == "unchanged":
        return []
    out = [Emit(BalanceUpdated(account=balance.account, currency=balance.currency, posted=balance.wire()["posted"],
                               pending=balance.wire()["pending"], available=balance.wire()["available"],
                               transaction_id=outcome.transaction_id, updated_at=ctx.now))
           for balance in outcome.balances]
    details: dict[str, object] = {"status": outcome.status, "postings": [leg.wire() for leg in outcome.legs]}
    if description:
        details["description"] = description
    if outcome.reason:
        details.update(reason=outcome.reason, message=outcome.message)
    out.append(Emit(LedgerAuditEvent(
        service="ledger", action=AUDIT_ACTION[outcome.status],
        outcome="rejected" if outcome.status == "rejected" else "success", actor=ctx.event.source,
        subject=outcome.transaction_id, correlation_id=ctx.event.correlation_id, occurred_at=ctx.now,
        details=details)))
    return out


@dataclass(frozen=True, slots=True)
class LedgerHandlers:
    settings: LedgerSettings

    def ledger(self, ctx: Context) -> Ledger:
        ledger = Ledger(ctx.session, self.settings.ledger_account_rules, ctx.now)

        def count_entries() -> None:
            for currency, count in ledger.entries_written.items():
                ENTRIES_WRITTEN.labels(currency).inc(count)

        ctx.after_commit(count_entries)
        return ledger

    def transaction_requested(self, ctx: Context, data: TransactionRequested) -> list[Emit]:
        ledger = self.ledger(ctx)
        if data.action == "post":
            return emits(ctx, ledger.post(data.transaction_id), data.description)
        if data.action == "void":
            return emits(ctx, ledger.void(data.transaction_id), data.description)
        legs = [Leg(posting.account, posting.currency, posting.direction, posting.money.minor)
                for posting in data.postings]
        outcome = ledger.create(data.transaction_id, legs, pending=data.pending, description=data.description,
                                metadata=data.metadata, effective_at=data.effective_at)
        return emits(ctx, outcome, data.description)

    def _post_recipe(self, ctx: Context, transaction_id: str, legs: list[Leg], *, description: str,
                     metadata: dict[str, str], effective_at: datetime) -> list[Emit]:
        outcome = self.ledger(ctx).create(transaction_id, legs, description=description, metadata=metadata,
                                          effective_at=effective_at)
        return emits(ctx, outcome, description)

    def payment_processed(self, ctx: Context, data: PaymentProcessed) -> list[Emit]:
        return self._post_recipe(ctx, payment_transaction_id(data.payment_id), payment_legs(data),
                                 description=f"payment {data.payment_id} captured by {data.gateway}",
                                 metadata={"paymentId": data.payment_id, "gatewayReference": data.gateway_reference},
                                 effective_at=data.processed_at)

    def refund_processed(self, ctx: Context, data: RefundProcessed) -> list[Emit]:
        return self._post_recipe(ctx, refund_transaction_id(data.refund_id), refund_legs(data),
                                 description=f"refund {data.refund_id} of payment {data.payment_id}",
                                 metadata={"paymentId": data.payment_id, "refundId": data.refund_id},
                                 effective_at=data.processed_at)

    def declare_accounts(self, store: Store) -> None:
        """At start-up: create the declared accounts; warn about those stored differently."""
        definitions = self.settings.ledger_accounts
        mismatched = store.run(lambda session: repository.declare_accounts(session, definitions, datetime.now(UTC)))
        for name in mismatched:
            log.warning("declared account differs from the stored one; the stored one stands",
                        extra={"account": name})

