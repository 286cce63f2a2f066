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
        effective = effective_at or self.now
        totals = self._apply(balances, legs, transaction_id, hold=+1 if pending else 0, post=not pending,
                             at=effective)
        repository.insert_transaction(self.session, {
            "id": transaction_id, "status": "pending" if pending else "posted", "description": description,
            "metadata_json": json.dumps(metadata or {}, sort_keys=True, default=str), "fingerprint": print_,
            "effective_at": effective, "created_at": self.now,
            "resolved_at": None if pending else self.now}, legs)
        return self._outcome("pending" if pending else "posted", transaction_id, legs, totals, accounts)

    def post(self, transaction_id: str, effective_at: datetime | None = None) -> Outcome:
        return self._resolve(transaction_id, "posted", effective_at)

    def void(self, transaction_id: str, effective_at: datetime | None = None) -> Outcome:
        return self._resolve(transaction_id, "voided", effective_at)

    def _resolve(self, transaction_id: str, target: Literal["posted", "voided"],
                 effective_at: datetime | None) -> Outcome:
        """Post or void a pending transaction, effective at `effective_at` (default now), never before the
        hold itself took effect."""
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
        at = max(effective_at or self.now, repository.utc(transaction.effective_at))
        totals = self._apply(balances, legs, transaction_id, hold=-1, post=target == "posted", at=at)
        repository.resolve_transaction(self.session, transaction_id, target, self.now)
        return self._outcome(target, transaction_id, legs, totals, accounts)

    def _apply(self, balances: dict[Key, repository.BalanceRow], legs: list[Leg], transaction_id: str, *, hold: int,
               post: bool, at: datetime) -> dict[Key, Totals]:
        """Write the legs to the locked balance rows: `hold` +1 adds them as pending, -1 releases them; `post`
        moves them into the posted balance with a statement entry each. `at`: when the change takes effect."""
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
                                "posted_at": self.now, "effective_at": at})
                self.entries_written[leg.currency] += 1
        through = self._record_history(balances, totals, transaction_id, at)
        repository.write_balances(self.session, totals, through)
        repository.insert_entries(self.session, entries)
        return totals

    def _record_history(self, balances: dict[Key, repository.BalanceRow], totals: dict[Key, Totals],
                        transaction_id: str, at: datetime) -> dict[Key, datetime]:
        """Add this change to each key's point-in-time history; answer each key's latest effective time.

        In effective order the change is usually the last, and its history row holds the new totals. A
        backdated change (effective before the key's latest) takes its totals from the row just before it
        and adds its amounts to every row after it: that costs the number of rows it lands before, not
        the length of the history. The balance rows are locked, so this key's history has one writer."""
        rows, through = [], {}
        for key, after in sorted(totals.items()):
            before = balances[key]
            latest = repository.utc(before.effective_through) if before.effective_through else None
            delta = after.plus(before, -1)
            if latest is None or at >= latest:
                running, through[key] = after, at
            else:
                prior = repository.history_at(self.session, key, at)
                running, through[key] = (Totals.of(prior) if prior else Totals()).plus(delta), latest
                if not delta.is_zero():
                    repository.shift_history_after(self.session, key, at, delta)
            if not delta.is_zero():
                rows.append({"account": key[0], "currency": key[1], "effective_at": at,
                             "transaction_id": transaction_id, "posted_debits": running.posted_debits,
                             "posted_credits": running.posted_credits, "pending_debits": running.pending_debits,
                             "pending_credits": running.pending_credits})
        repository.insert_history(self.session, rows)
        return through

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
