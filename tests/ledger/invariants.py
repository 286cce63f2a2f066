"""Checks that read the ledger's tables directly and recompute what the service keeps incrementally."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import select

from functions.ledger.accounts import AccountSpec
from functions.ledger.double_entry import violations
from functions.ledger.models import (
    LedgerAccount,
    LedgerBalance,
    LedgerBalanceHistory,
    LedgerEntry,
    LedgerPosting,
    LedgerTransaction,
)
from functions.ledger.repository import utc
from shared.store import Store

Key = tuple[str, str]


def balances(store: Store) -> dict[Key, tuple[int, int, int, int]]:
    with store.session() as session:
        return {(row.account, row.currency): (row.posted_debits, row.posted_credits, row.pending_debits,
                                              row.pending_credits)
                for row in session.exec(select(LedgerBalance))}


def check(store: Store) -> dict[Key, tuple[int, int, int, int]]:
    """Assert every invariant; return the balances (posted dr, posted cr, pending dr, pending cr)."""
    with store.session() as session:
        rows = list(session.exec(select(LedgerBalance)))
        accounts = {row.name: row for row in session.exec(select(LedgerAccount))}
        status = {row.id: row.status for row in session.exec(select(LedgerTransaction))}
        postings = list(session.exec(select(LedgerPosting)))
        entries = list(session.exec(select(LedgerEntry).order_by(LedgerEntry.id)))  # type: ignore[arg-type]
        history = list(session.exec(select(LedgerBalanceHistory).order_by(
            LedgerBalanceHistory.effective_at, LedgerBalanceHistory.id)))  # type: ignore[arg-type]
    latest: dict[Key, LedgerBalanceHistory] = {}
    for point in history:
        latest[(point.account, point.currency)] = point
    recomputed: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for posting in postings:
        slot = {"posted": 0, "pending": 2}.get(status[posting.transaction_id])
        if slot is None:
            continue  # voided
        recomputed[(posting.account, posting.currency)][slot + (posting.direction == "credit")] += posting.amount_minor
    from_entries: dict[Key, int] = defaultdict(int)
    for entry in entries:
        from_entries[(entry.account, entry.currency)] += entry.amount_minor
        assert entry.balance_after_minor == from_entries[(entry.account, entry.currency)], entry
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        key = (row.account, row.currency)
        kept = (row.posted_debits, row.posted_credits, row.pending_debits, row.pending_credits)
        assert kept == tuple(recomputed[key]), (key, kept, recomputed[key])
        assert row.posted_debits - row.posted_credits == from_entries[key], key
        account = accounts[row.account]
        spec = AccountSpec(account.name, account.type, account.debits_must_not_exceed_credits,
                           account.credits_must_not_exceed_debits)
        assert violations(row, spec) == [], (key, kept)
        # The point-in-time history ends, in effective order, at the current totals.
        if key in latest:
            last = latest[key]
            assert (last.posted_debits, last.posted_credits, last.pending_debits, last.pending_credits) == kept, key
            assert row.effective_through is not None and utc(row.effective_through) == utc(last.effective_at), key
        else:
            assert kept == (0, 0, 0, 0), key
        for index, value in enumerate(kept):
            totals[row.currency][index] += value
    for currency, (posted_dr, posted_cr, pending_dr, pending_cr) in totals.items():
        assert posted_dr == posted_cr, f"trial balance of {currency} is off by {posted_dr - posted_cr}"
        assert pending_dr == pending_cr, f"pending {currency} is off by {pending_dr - pending_cr}"
    return {key: (row.posted_debits, row.posted_credits, row.pending_debits, row.pending_credits)
            for row in rows for key in [(row.account, row.currency)]}
