"""The ledger's event handlers, bound to its settings when the function is wired (functions/ledger/app.py)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from functions.ledger import repository
from functions.ledger.book import Ledger, Outcome
from functions.ledger.double_entry import Leg, view
from functions.ledger.metrics import ENTRIES_WRITTEN
from functions.ledger.recipes import payment_legs, payment_transaction_id, refund_legs, refund_transaction_id
from functions.ledger.settings import LedgerSettings
from functions.ledger.settlement import (
    IN_TRANSIT,
    MERCHANT_PREFIX,
    is_payout,
    merchant_of,
    payout_id,
    payout_legs,
    payout_metadata,
    payout_minor,
)
from shared.contract import Context, Emit
from shared.errors import invalid_data
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
from shared.money import format_minor
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
            return emits(ctx, ledger.post(data.transaction_id, data.effective_at), data.description)
        if data.action == "void":
            return emits(ctx, ledger.void(data.transaction_id, data.effective_at), data.description)
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

    def settlement_requested(self, ctx: Context, data: SettlementRequested) -> list[Emit]:
        return self.settle(ctx, data.period, data.merchant_id, data.currency)

    def settlement_tick(self, ctx: Context, data: PingTick) -> list[Emit]:
        """The scheduled run (eventing/ledger/pingsource.yaml, shortly after midnight UTC) settles the UTC day
        that just ended; a repeated or late tick of the same day finds that period's payouts and pays nothing."""
        return self.settle(ctx, (ctx.now - timedelta(days=1)).date().isoformat(), None, None)

    def settle(self, ctx: Context, period: str, merchant: str | None, currency: str | None) -> list[Emit]:
        """Hold a payout for each merchant and currency owed money, once per period (see settlement.py).

        Every balance row involved is locked first, in the one (account, currency) order all writers use,
        and a payout is created only if none exists for its period once the locks are held: two runs of
        the same period queue and the second finds the first's payouts."""
        session, rules = ctx.session, self.settings.ledger_account_rules
        keys = repository.merchant_balance_keys(session, MERCHANT_PREFIX, merchant, currency)
        if not keys:
            return []
        repository.ensure_accounts(session, [IN_TRANSIT], rules, ctx.now)
        locked = repository.lock_balances(session, keys + [(IN_TRANSIT, code) for _, code in keys])
        accounts = repository.existing_accounts(session, [account for account, _ in keys])
        ledger, out = self.ledger(ctx), []
        for account, code in keys:
            merchant_id = merchant_of(account)
            payout = payout_id(merchant_id, code, period) if merchant_id else ""
            if merchant_id is None or repository.transaction(session, payout) is not None:
                continue
            balance = view(account, code, locked[(account, code)], accounts[account].type)
            minor = payout_minor(balance, self.settings.ledger_payout_reserve_bps)
            if minor <= 0:
                continue
            description = f"payout {payout} of {account} for {period}"
            outcome = ledger.create(payout, payout_legs(merchant_id, code, minor), pending=True,
                                    description=description, metadata=payout_metadata(payout, merchant_id, period),
                                    effective_at=ctx.now)
            out += emits(ctx, outcome, description)
            if outcome.status == "pending":
                out.append(Emit(PayoutCreated(payout_id=payout, merchant_id=merchant_id, period=period,
                                              currency=code, amount=format_minor(minor, code),
                                              created_at=ctx.now)))
        return out

    def payout_paid(self, ctx: Context, data: PayoutPaid) -> list[Emit]:
        return self._resolve_payout(ctx, data.payout_id, "post", data.paid_at)

    def payout_failed(self, ctx: Context, data: PayoutFailed) -> list[Emit]:
        return self._resolve_payout(ctx, data.payout_id, "void", data.failed_at, data.reason)

    def _resolve_payout(self, ctx: Context, payout: str, action: Literal["post", "void"], at: datetime,
                        reason: str | None = None) -> list[Emit]:
        found = repository.transaction(ctx.session, payout)
        if found is None or not is_payout(json.loads(found.metadata_json)):
            raise invalid_data("payoutId", "payout_exists", f"there is no payout {payout!r}")
        ledger = self.ledger(ctx)
        outcome = ledger.post(payout, at) if action == "post" else ledger.void(payout, at)
        description = f"payout {payout} {'paid' if action == 'post' else 'failed'}"
        return emits(ctx, outcome, f"{description}: {reason}" if reason else description)

    def declare_accounts(self, store: Store) -> None:
        """At start-up: create the declared accounts; warn about those stored differently."""
        definitions = self.settings.ledger_accounts
        mismatched = store.run(lambda session: repository.declare_accounts(session, definitions, datetime.now(UTC)))
        for name in mismatched:
            log.warning("declared account differs from the stored one; the stored one stands",
                        extra={"account": name})

