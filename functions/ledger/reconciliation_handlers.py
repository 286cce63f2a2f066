"""ledger.settlement-reported: reconcile a gateway's settlement batch (rules in reconciliation.py, SQL in
reconciliation_repository.py). Idempotent per (gateway, batchId): the same report again changes nothing and emits
nothing; another report under a reconciled batch id is refused (422 naming data.batchId)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from functions.ledger import reconciliation_repository as store
from functions.ledger import repository
from functions.ledger.handlers import LedgerHandlers, emits
from functions.ledger.recipes import clearing_account
from functions.ledger.reconciliation import (
    PROBLEMS,
    RULE_ID,
    LineResult,
    match,
    reported_lines,
    settlement_legs,
    settlement_transaction_id,
)
from shared.contract import Context, Emit
from shared.errors import invalid_data
from shared.events import ComplianceAlert, LedgerAuditEvent, SettlementReported
from shared.money import format_minor

PROBLEM_TEXT = {"amount_mismatch": "its amount differs from the booked payment",
                "already_settled": "an earlier batch already settled it",
                "unmatched": "no booked payment has this reference",
                "missing": "a booked payment due in this batch is not in it"}


def _fingerprint(data: SettlementReported) -> str:
    document = data.model_dump(mode="json", by_alias=True, include={"gateway", "batch_id", "currency", "lines",
                                                                    "settled_through"})
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _line_row(data: SettlementReported, result: LineResult) -> dict[str, object]:
    reported, booked = result.reported, result.booked
    return {"gateway": data.gateway, "batch_id": data.batch_id, "reference": result.reference,
            "status": result.status, "gross_minor": reported.gross.minor if reported else None,
            "fee_minor": reported.fee.minor if reported else None,
            "net_minor": reported.net.minor if reported else None,
            "booked_minor": booked.amount.minor if booked else None,
            "booked_currency": booked.amount.currency if booked else None,
            "payment_transaction_id": booked.transaction_id if booked else None}


def _alert(ctx: Context, data: SettlementReported, result: LineResult) -> Emit:
    key = f"{data.gateway}\x1f{data.batch_id}\x1f{result.reference}"
    detail = PROBLEM_TEXT[result.status]
    if result.reported is not None:
        detail += f" (reported gross {result.reported.gross}"
        detail += f", booked {result.booked.amount})" if result.booked else ")"
    return Emit(ComplianceAlert(
        alert_id=f"recon-{hashlib.sha256(key.encode()).hexdigest()[:32]}", rule_id=RULE_ID, severity="high",
        message=f"{data.gateway} batch {data.batch_id}, {result.reference}: {result.status}: {detail}",
        subject=f"{data.gateway}:{data.batch_id}", triggering_event_ids=[ctx.event.id], raised_at=ctx.now))


@dataclass(frozen=True, slots=True)
class ReconciliationHandlers:
    handlers: LedgerHandlers

    def settlement_reported(self, ctx: Context, data: SettlementReported) -> list[Emit]:
        lines = reported_lines(data)  # every line checked before anything is read or written
        fingerprint = _fingerprint(data)
        # One reconciliation of a clearing account at a time: a reference is never settled by two batches.
        repository.lock_existing_balances(ctx.session, [(clearing_account(data.gateway), data.currency)])
        previous = store.reconciliation(ctx.session, data.gateway, data.batch_id)
        if previous is not None:
            if previous.fingerprint != fingerprint:
                raise invalid_data("batchId", "unique", f"batch {data.batch_id!r} was reconciled with other lines")
            return []
        booked = store.booked(ctx.session, data.gateway, [line.reference for line in lines])
        outstanding = store.outstanding(ctx.session, data.gateway, data.currency, data.settled_through) \
            if data.settled_through else []
        results = match(lines, booked, outstanding)
        out: list[Emit] = []
        transaction_id = None
        legs = settlement_legs(data.gateway, data.currency, results)
        if legs:
            transaction_id = settlement_transaction_id(data.gateway, data.batch_id)
            description = f"{data.gateway} settlement {data.batch_id}"
            outcome = self.handlers.ledger(ctx).create(
                transaction_id, legs, description=description, effective_at=data.reported_at,
                metadata={"gateway": data.gateway, "batchId": data.batch_id})
            out += emits(ctx, outcome, description)
        problems = [result for result in results if result.status in PROBLEMS]
        counts = {status: sum(1 for result in results if result.status == status)
                  for status in ("matched", *PROBLEMS)}
        store.insert_reconciliation(ctx.session, {
            "gateway": data.gateway, "batch_id": data.batch_id, "currency": data.currency,
            "fingerprint": fingerprint, "status": "mismatched" if problems else "reconciled",
            "transaction_id": transaction_id, "lines_reported": len(lines), "lines_matched": counts["matched"],
            "problems": len(problems), "settled_through": data.settled_through, "reported_at": data.reported_at,
            "created_at": ctx.now}, [_line_row(data, result) for result in results])
        matched_gross = sum(result.reported.gross.minor for result in results
                            if result.status == "matched" and result.reported)
        summary = Emit(LedgerAuditEvent(
            service="ledger", action="reconciliation.completed", outcome="failure" if problems else "success",
            actor=ctx.event.source, subject=f"{data.gateway}:{data.batch_id}", correlation_id=ctx.event.correlation_id,
            occurred_at=ctx.now, details={**counts, "currency": data.currency, "transactionId": transaction_id,
                                          "matchedGross": format_minor(matched_gross, data.currency)}))
        return [summary, *out, *(_alert(ctx, data, result) for result in problems)]
