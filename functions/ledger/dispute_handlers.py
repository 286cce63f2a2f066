"""The ledger's dispute handlers (recipes in dispute_recipes.py), bound at wiring to the ledger's handlers.

A dispute-closed whose hold is already resolved (the same close reported again under a new event id) changes
nothing and emits nothing; one that overtook its dispute-opened (another topic) books the hold itself first.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.ledger import repository
from functions.ledger.book import Outcome
from functions.ledger.dispute_recipes import (
    chargeback_legs,
    chargeback_transaction_id,
    dispute_transaction_id,
    hold_legs,
)
from functions.ledger.handlers import LedgerHandlers, emits
from shared.contract import Context, Emit
from shared.events import DisputeClosed, DisputeOpened


@dataclass(frozen=True, slots=True)
class DisputeHandlers:
    handlers: LedgerHandlers

    def dispute_opened(self, ctx: Context, data: DisputeOpened) -> list[Emit]:
        return emits(ctx, self._hold(ctx, data), f"dispute {data.dispute_id} opened on payment {data.payment_id}")

    def _hold(self, ctx: Context, data: DisputeOpened | DisputeClosed) -> Outcome:
        description = f"dispute {data.dispute_id} opened on payment {data.payment_id}"
        metadata = {"paymentId": data.payment_id, "disputeId": data.dispute_id}
        if isinstance(data, DisputeOpened):
            metadata["reason"] = data.reason
        effective_at = data.opened_at if isinstance(data, DisputeOpened) else data.closed_at
        return self.handlers.ledger(ctx).create(
            dispute_transaction_id(data.dispute_id), hold_legs(data), pending=True, description=description,
            metadata=metadata, effective_at=effective_at)

    def dispute_closed(self, ctx: Context, data: DisputeClosed) -> list[Emit]:
        hold = dispute_transaction_id(data.dispute_id)
        out: list[Emit] = []
        found = repository.transaction(ctx.session, hold)
        if found is None:
            out += emits(ctx, self._hold(ctx, data), f"dispute {data.dispute_id} opened on payment {data.payment_id}")
        elif found.status != "pending":
            return []
        ledger = self.handlers.ledger(ctx)
        description = f"dispute {data.dispute_id} on payment {data.payment_id} {data.outcome}"
        if data.outcome == "won":
            return out + emits(ctx, ledger.void(hold), description)
        out += emits(ctx, ledger.post(hold), description)
        chargeback = ledger.create(chargeback_transaction_id(data.dispute_id), chargeback_legs(data),
                                   description=description,
                                   metadata={"paymentId": data.payment_id, "disputeId": data.dispute_id},
                                   effective_at=data.closed_at)
        return out + emits(ctx, chargeback, description)
