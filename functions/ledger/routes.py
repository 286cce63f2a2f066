"""Read-only HTTP routes: balances, statements, transactions and the trial balance."""

from __future__ import annotations

import json
from typing import Any

from functions.ledger import repository
from functions.ledger.double_entry import view
from shared.contract import Query, Reply, bad_query
from shared.money import format_minor

PAGE_ENTRIES_MAX = 1000
CURSOR_MAX = 2**62


def _not_found(what: str) -> Reply:
    return Reply({"error": "not_found", "message": what}, 404)


def balances(query: Query) -> Reply:
    """The account's balances per currency; with `at` (RFC 3339), those from the changes effective at or
    before that instant, whenever they were recorded."""
    name = query.params["account"]
    account = repository.account(query.session, name)
    if account is None:
        return _not_found(f"no account {name!r}")
    flags = [flag for flag in ("debits_must_not_exceed_credits", "credits_must_not_exceed_debits")
             if getattr(account, flag)]
    at = query.time("at")
    rows = repository.balances_of(query.session, name) if at is None else \
        repository.balances_at(query.session, name, at)
    body = {"account": name, "type": account.type, "flags": flags, "metadata": json.loads(account.metadata_json),
            "balances": [view(row.account, row.currency, row, account.type).wire() for row in rows]}
    if at is not None:
        body["at"] = at.isoformat()
    return Reply(body)


def entries(query: Query) -> Reply:
    """Statement lines in the order they were recorded. `from`/`to` keep those effective after `from` and at or
    before `to`, so that the balance at `to` is the balance at `from` plus their amounts."""
    name = query.params["account"]
    if repository.account(query.session, name) is None:
        return _not_found(f"no account {name!r}")
    cursor = query.integer("cursor", 0, 0, CURSOR_MAX)
    limit = query.integer("limit", 100, 1, PAGE_ENTRIES_MAX)
    after, until = query.time("from"), query.time("to")
    if after is not None and until is not None and after > until:
        raise bad_query("from", "before_to", "from must not be later than to")
    rows = repository.entries_page(query.session, name, after_id=cursor, limit=limit + 1,
                                   currency=query.text("currency"), effective_after=after, effective_until=until)
    page = rows[:limit]
    body: dict[str, Any] = {"account": name, "entries": [{
        "id": row.id, "transactionId": row.transaction_id, "currency": row.currency,
        "amount": format_minor(row.amount_minor, row.currency),
        "balance": format_minor(row.balance_after_minor, row.currency),
        "postedAt": repository.utc(row.posted_at).isoformat(),
        "effectiveAt": repository.utc(row.effective_at).isoformat()} for row in page]}
    if len(rows) > limit:
        body["nextCursor"] = str(page[-1].id)
    return Reply(body)


def transaction(query: Query) -> Reply:
    found = repository.transaction(query.session, query.params["transaction_id"])
    if found is None:
        return _not_found(f"no transaction {query.params['transaction_id']!r}")
    postings = repository.postings_of(query.session, found.id)
    return Reply({
        "transactionId": found.id, "status": found.status, "description": found.description,
        "metadata": json.loads(found.metadata_json), "effectiveAt": found.effective_at.isoformat(),
        "createdAt": found.created_at.isoformat(),
        "resolvedAt": found.resolved_at.isoformat() if found.resolved_at else None,
        "postings": [{"account": row.account, "direction": row.direction, "currency": row.currency,
                      "amount": format_minor(row.amount_minor, row.currency)} for row in postings]})


def trial_balance(query: Query) -> Reply:
    currencies = []
    for currency, debits, credits, pending_debits, pending_credits in repository.trial_balance(query.session):
        currencies.append({
            "currency": currency, "debits": format_minor(debits, currency), "credits": format_minor(credits, currency),
            "net": format_minor(debits - credits, currency),
            "pendingDebits": format_minor(pending_debits, currency),
            "pendingCredits": format_minor(pending_credits, currency)})
    balanced = all(item["net"] == format_minor(0, item["currency"]) for item in currencies)
    return Reply({"balanced": balanced, "currencies": currencies})
