"""Read-only HTTP routes: balances, statements, transactions and the trial balance."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from functions.ledger.book import view
from functions.ledger.models import LedgerAccount, LedgerBalance, LedgerEntry, LedgerPosting, LedgerTransaction
from shared.contract import Query, Reply
from shared.errors import EventError
from shared.money import format_minor

MAX_PAGE = 1000


def _not_found(what: str) -> Reply:
    return Reply({"error": "not_found", "message": what}, 404)


def _int_arg(query: Query, name: str, default: int, low: int, high: int) -> int:
    raw = query.args.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise EventError.field(400, "invalid_query", name, "range", f"{name} must be an integer from {low} to {high}")
    return int(raw)


def balances(query: Query) -> Reply:
    name = query.params["account"]
    account = query.session.get(LedgerAccount, name)
    if account is None:
        return _not_found(f"no account {name!r}")
    rows = query.session.scalars(select(LedgerBalance).where(
        LedgerBalance.account == name).order_by(LedgerBalance.currency))  # type: ignore[arg-type]
    flags = [flag for flag in ("debits_must_not_exceed_credits", "credits_must_not_exceed_debits")
             if getattr(account, flag)]
    return Reply({"account": name, "type": account.type, "flags": flags, "metadata": json.loads(account.metadata_json),
                  "balances": [view(row.account, row.currency, row, account.type).wire() for row in rows]})


def entries(query: Query) -> Reply:
    name = query.params["account"]
    if query.session.get(LedgerAccount, name) is None:
        return _not_found(f"no account {name!r}")
    cursor = _int_arg(query, "cursor", 0, 0, 2**62)
    limit = _int_arg(query, "limit", 100, 1, MAX_PAGE)
    statement = select(LedgerEntry).where(col(LedgerEntry.account) == name, col(LedgerEntry.id) > cursor)
    if currency := query.args.get("currency"):
        statement = statement.where(LedgerEntry.currency == currency)  # type: ignore[arg-type]
    rows = list(query.session.scalars(statement.order_by(LedgerEntry.id).limit(limit + 1)))  # type: ignore[arg-type]
    page = rows[:limit]
    body: dict[str, Any] = {"account": name, "entries": [{
        "id": row.id, "transactionId": row.transaction_id, "currency": row.currency,
        "amount": format_minor(row.amount_minor, row.currency),
        "balance": format_minor(row.balance_after_minor, row.currency),
        "postedAt": row.posted_at.isoformat()} for row in page]}
    if len(rows) > limit:
        body["nextCursor"] = str(page[-1].id)
    return Reply(body)


def transaction(query: Query) -> Reply:
    found = query.session.get(LedgerTransaction, query.params["transaction_id"])
    if found is None:
        return _not_found(f"no transaction {query.params['transaction_id']!r}")
    postings = query.session.scalars(select(LedgerPosting).where(
        LedgerPosting.transaction_id == found.id).order_by(LedgerPosting.id))  # type: ignore[arg-type]
    return Reply({
        "transactionId": found.id, "status": found.status, "description": found.description,
        "metadata": json.loads(found.metadata_json), "effectiveAt": found.effective_at.isoformat(),
        "createdAt": found.created_at.isoformat(),
        "resolvedAt": found.resolved_at.isoformat() if found.resolved_at else None,
        "postings": [{"account": row.account, "direction": row.direction, "currency": row.currency,
                      "amount": format_minor(row.amount_minor, row.currency)} for row in postings]})


def trial_balance(query: Query) -> Reply:
    rows = query.session.execute(
        select(col(LedgerBalance.currency), func.sum(col(LedgerBalance.posted_debits)),
               func.sum(col(LedgerBalance.posted_credits)), func.sum(col(LedgerBalance.pending_debits)),
               func.sum(col(LedgerBalance.pending_credits)))
        .group_by(col(LedgerBalance.currency)).order_by(col(LedgerBalance.currency))).all()
    currencies = []
    for row in rows:
        currency = row[0]
        debits, credits, pending_debits, pending_credits = (int(value or 0) for value in row[1:])
        currencies.append({
            "currency": currency, "debits": format_minor(debits, currency), "credits": format_minor(credits, currency),
            "net": format_minor(debits - credits, currency),
            "pendingDebits": format_minor(pending_debits, currency),
            "pendingCredits": format_minor(pending_credits, currency)})
    balanced = all(item["net"] == format_minor(0, item["currency"]) for item in currencies)
    return Reply({"balanced": balanced, "currencies": currencies})
