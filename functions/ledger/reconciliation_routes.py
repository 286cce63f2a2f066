"""GET /reconciliations/{batch_id}: a reconciled settlement batch with every line's result (missing payments too)."""

from __future__ import annotations

from typing import Any

from functions.ledger import reconciliation_repository as store
from functions.ledger.models import LedgerReconciliationLine
from shared.contract import Query, Reply, bad_query
from shared.money import format_minor


def _amount(minor: int | None, currency: str | None) -> str | None:
    return format_minor(minor, currency) if minor is not None and currency else None


def _line(row: LedgerReconciliationLine, currency: str) -> dict[str, Any]:
    return {"gatewayReference": row.reference, "status": row.status,
            "gross": _amount(row.gross_minor, currency), "fee": _amount(row.fee_minor, currency),
            "net": _amount(row.net_minor, currency), "booked": _amount(row.booked_minor, row.booked_currency),
            "bookedCurrency": row.booked_currency, "paymentTransactionId": row.payment_transaction_id}


def reconciliation(query: Query) -> Reply:
    batch_id = query.params["batch_id"]
    found = store.reconciliations_of(query.session, batch_id, query.text("gateway", max_chars=64))
    if not found:
        return Reply({"error": "not_found", "message": "no reconciled batch with this id"}, 404)
    if len(found) > 1:
        raise bad_query("gateway", "required", "several gateways reported this batch id: name one with ?gateway=")
    row = found[0]
    lines = store.lines_of(query.session, row.gateway, row.batch_id)
    return Reply({
        "gateway": row.gateway, "batchId": row.batch_id, "currency": row.currency, "status": row.status,
        "transactionId": row.transaction_id, "linesReported": row.lines_reported, "linesMatched": row.lines_matched,
        "problems": row.problems, "settledThrough": row.settled_through.isoformat() if row.settled_through else None,
        "reportedAt": row.reported_at.isoformat(), "lines": [_line(line, row.currency) for line in lines]})
