"""The bookkeeping core: create, post and void transactions inside the caller's database transaction.

The rules are in functions/ledger/double_entry.py and the SQL in functions/ledger/repository.py; this
module holds the order of the steps (read, lock in a fixed order, check, write) that keeps the ledger
right under concurrent writers.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from functions.ledger import repository
from functions.ledger.accounts import AccountRule, AccountSpec
from functions.ledger.double_entry import (
    BalanceView,
    HasTotals,
    Key,
    Leg,
    Totals,
    check_balanced,
    fingerprint,
    view,
    violations,
)
from shared.errors import invalid_data

Status = Literal["posted", "pending", "voided", "rejected", "unchanged"]


@dataclass(slots=True)
class Outcome:
    status: Status
    transaction_id: str
    legs: list[Leg]
    balances: list[BalanceView] = field(default_factory=list)
    reason: str | None = None
    message: str = ""


class Ledger:
    def __init__(self, session: Session, rules: tuple[AccountRule, ...], now: datetime) -> None:
        self.session = session
        self.rules = rules
        self.now = now
        self.entries_written: Counter[str] = Counter()  # per currency, for the metric once committed

    def create(self, transaction_id: str, legs: list[Leg], *, pending: bool = False, description: str | None = None,
               metadata: dict[str, Any] | None = None, effective_at: datetime | None = None) -> Outcome:
        check_balanced(legs)
        print_ = fingerprint(legs)
        previous = repository.transaction_fingerprint(self.session, transaction_id)
        if previous is not None:
            if previous != print_:
                raise invalid_data("transactionId", "unique",
                                   f"transaction {transaction_id!r} already exists with other postings")
            return Outcome("unchanged", transaction_id, legs, self._views(legs))
        names = [leg.account for leg in legs]
        keys = [leg.key for leg in legs]
        accounts = repository.existing_accounts(self.session, names)
        balances = repository.lock_existing_balances(self.session, keys)
        savepoint = None
        if len(accounts) < len(set(names)) or len(balances) < len(set(keys)):
            # First use of an account or currency: create its rows in a savepoint, so that a
            # rejected transaction leaves nothing behind.
            savepoint = self.session.begin_nested()
            accounts = repository.ensure_accounts(self.session, names, self.rules, self.now, accounts)
            balances = repository.lock_balances(self.session, keys)
        trial = {key: Totals.of(balance) for key, balance in balances.items()}
        for leg in legs:
            trial[leg.key].add(leg, pending)
        broken = [(key, rule) for key, totals in sorted(trial.items()) for rule in violations(totals, accounts[key[0]])]
        if broken:
            if savepoint is not None:
                savepoint.rollback()
            (account, currency), rule = broken[0]
            return Outcome("rejected", transaction_id, legs, reason=rule,
                           message=f"{account} ({currency}) would break {rule}")
        if savepoint is not None:
            savepoint.commit()
        totals = self._apply(balances, legs, transaction_id, hold=+1 if pending else 0, post=not pending)
        repository.insert_transaction(self.session, {
            "id": transaction_id, "status": "pending" if pending else "posted", "description": description,
            "metadata_json": json.dumps(metadata or {}, sort_keys=True, default=str), "fingerprint": print_,
            "effective_at": effective_at or self.now, "created_at": self.now,
            "resolved_at": None if pending else self.now}, legs)
        return self._outcome("pending" if pending else "posted", transaction_id, legs, totals, accounts)

    def post(self, transaction_id: str) -> Outcome:
        return self._resolve(transaction_id, "posted")

    def void(self, transaction_id: str) -> Outcome:
        return self._resolve(transaction_id, "voided")

    def _resolve(self, transaction_id: str, target: Literal["posted", "voided"]) -> Outcome:
        transaction = repository.lock_transaction(self.session, transaction_id)
        if transaction is None:
            verb = "post" if target == "posted" else "void"
            raise invalid_data("transactionId", "pending_transaction_exists",
                               f"there is no transaction {transaction_id!r} to {verb}")
        legs = repository.legs_of(self.session, transaction_id)
        if transaction.status != "pending":
            return Outcome("rejected", transaction_id, legs, reason=f"already_{transaction.status}",
                           message=f"transaction {transaction_id} is {transaction.status}, not pending")
        accounts = repository.ensure_accounts(self.session, [leg.account for leg in legs], self.rules, self.now)
        balances = repository.lock_balances(self.session, [leg.key for leg in legs])
        totals = self._apply(balances, legs, transaction_id, hold=-1, post=target == "posted")
        repository.resolve_transaction(self.session, transaction_id, target, self.now)
        return self._outcome(target, transaction_id, legs, totals, accounts)

    def _apply(self, balances: dict[Key, HasTotals], legs: list[Leg], transaction_id: str, *, hold: int,
               post: bool) -> dict[Key, Totals]:
        """Write the legs to the locked balance rows: `hold` +1 adds them as pending, -1 releases them; `post`
        moves them into the posted balance with a statement entry each."""
        totals = {key: Totals.of(balance) for key, balance in balances.items()}
        entries = []
        for leg in legs:
            balance = totals[leg.key]
            if hold:
                balance.hold(leg, hold)
            if post:
                balance.add(leg, pending=False)
                entries.append({"account": leg.account, "currency": leg.currency, "transaction_id": transaction_id,
                                "amount_minor": leg.signed,
                                "balance_after_minor": balance.posted_debits - balance.posted_credits,
                                "posted_at": self.now})
                self.entries_written[leg.currency] += 1
        repository.write_balances(self.session, totals)
        repository.insert_entries(self.session, entries)
        return totals

    def _outcome(self, status: Status, transaction_id: str, legs: list[Leg], totals: dict[Key, Totals],
                 accounts: dict[str, AccountSpec]) -> Outcome:
        views = [view(account, currency, balance, accounts[account].type)
                 for (account, currency), balance in sorted(totals.items())]
        return Outcome(status, transaction_id, legs, views)

    def _views(self, legs: list[Leg]) -> list[BalanceView]:
        keys = sorted({leg.key for leg in legs})
        accounts = repository.ensure_accounts(self.session, [key[0] for key in keys], self.rules, self.now)
        return [view(key[0], key[1], balance, accounts[key[0]].type) for key in keys
                if (balance := repository.balance(self.session, key)) is not None]
