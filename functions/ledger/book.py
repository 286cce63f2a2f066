"""The bookkeeping core: create, post and void transactions inside the caller's database transaction.

Invariants kept here (and checked by the property tests): every transaction balances per currency;
an account's flags hold after every change, counting pending debits or credits against them the way
TigerBeetle does; balances always equal the sum of their postings.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import insert, select, update
from sqlmodel import Session

from functions.ledger.accounts import (
    DEBIT_NORMAL,
    AccountRule,
    AccountSpec,
    ensure,
    existing,
    lock_balances,
    lock_existing,
)
from functions.ledger.models import LedgerBalance, LedgerEntry, LedgerPosting, LedgerTransaction
from shared.errors import EventError, invalid_data
from shared.money import format_minor

Direction = Literal["debit", "credit"]
Key = tuple[str, str]
Status = Literal["posted", "pending", "voided", "rejected", "unchanged"]


@dataclass(frozen=True, slots=True, order=True)
class Leg:
    account: str
    currency: str
    direction: Direction
    minor: int

    @property
    def signed(self) -> int:
        return self.minor if self.direction == "debit" else -self.minor

    def wire(self) -> dict[str, str]:
        return {"account": self.account, "direction": self.direction,
                "amount": format_minor(self.minor, self.currency), "currency": self.currency}


@dataclass(frozen=True, slots=True)
class BalanceView:
    account: str
    currency: str
    posted: int
    pending: int
    available: int

    def wire(self) -> dict[str, str]:
        return {"currency": self.currency, "posted": format_minor(self.posted, self.currency),
                "pending": format_minor(self.pending, self.currency),
                "available": format_minor(self.available, self.currency)}


@dataclass(slots=True)
class Outcome:
    status: Status
    transaction_id: str
    legs: list[Leg]
    balances: list[BalanceView] = field(default_factory=list)
    reason: str | None = None
    message: str = ""


def view(account: str, currency: str, balance: HasTotals, account_type: str) -> BalanceView:
    posted = balance.posted_debits - balance.posted_credits
    pending = posted + balance.pending_debits - balance.pending_credits
    # Available: posted, less what pending transfers may still take out of the account.
    available = posted - balance.pending_credits if account_type in DEBIT_NORMAL else posted + balance.pending_debits
    return BalanceView(account, currency, posted, pending, available)


def check_balanced(legs: list[Leg]) -> None:
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        totals[leg.currency] += leg.signed
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        detail = ", ".join(f"{currency} debits exceed credits by {format_minor(total, currency)}"
                           for currency, total in sorted(unbalanced.items()))
        raise EventError.field(400, "unbalanced", "data.postings", "balanced_per_currency",
                               f"postings must balance per currency: {detail}")


def fingerprint(legs: list[Leg]) -> str:
    canonical = json.dumps([leg.wire() for leg in sorted(legs)], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class HasTotals(Protocol):
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int


@dataclass(slots=True)
class Totals:
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int

    @classmethod
    def of(cls, balance: HasTotals) -> Totals:
        return cls(balance.posted_debits, balance.posted_credits, balance.pending_debits, balance.pending_credits)

    def hold(self, leg: Leg, sign: int) -> None:
        if leg.direction == "debit":
            self.pending_debits += sign * leg.minor
        else:
            self.pending_credits += sign * leg.minor

    def add(self, leg: Leg, pending: bool) -> None:
        if leg.direction == "debit" and pending:
            self.pending_debits += leg.minor
        elif leg.direction == "debit":
            self.posted_debits += leg.minor
        elif pending:
            self.pending_credits += leg.minor
        else:
            self.posted_credits += leg.minor


def violations(balance: HasTotals, account: AccountSpec) -> list[str]:
    found = []
    if account.debits_must_not_exceed_credits and \
            balance.posted_debits + balance.pending_debits > balance.posted_credits:
        found.append("debits_must_not_exceed_credits")
    if account.credits_must_not_exceed_debits and \
            balance.posted_credits + balance.pending_credits > balance.posted_debits:
        found.append("credits_must_not_exceed_debits")
    return found


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
        previous = self.session.get(LedgerTransaction, transaction_id)
        if previous is not None:
            if previous.fingerprint != print_:
                raise invalid_data("transactionId", "unique",
                                   f"transaction {transaction_id!r} already exists with other postings")
            return Outcome("unchanged", transaction_id, legs, self._views(legs))
        names = [leg.account for leg in legs]
        keys = [(leg.account, leg.currency) for leg in legs]
        accounts = existing(self.session, names)
        balances = lock_existing(self.session, keys)
        savepoint = None
        if len(accounts) < len(set(names)) or len(balances) < len(set(keys)):
            # First use of an account or currency: create its rows in a savepoint, so that a
            # rejected transaction leaves nothing behind.
            savepoint = self.session.begin_nested()
            accounts = ensure(self.session, names, self.rules, self.now, accounts)
            balances = lock_balances(self.session, keys)
        trial = {key: Totals.of(balance) for key, balance in balances.items()}
        for leg in legs:
            trial[(leg.account, leg.currency)].add(leg, pending)
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
        self.session.execute(insert(LedgerTransaction).values(
            id=transaction_id, status="pending" if pending else "posted", description=description,
            metadata_json=json.dumps(metadata or {}, sort_keys=True, default=str), fingerprint=print_,
            effective_at=effective_at or self.now, created_at=self.now,
            resolved_at=None if pending else self.now))
        self.session.execute(insert(LedgerPosting), [
            {"transaction_id": transaction_id, "account": leg.account, "direction": leg.direction,
             "amount_minor": leg.minor, "currency": leg.currency} for leg in legs])
        return self._outcome("pending" if pending else "posted", transaction_id, legs, totals, accounts)

    def post(self, transaction_id: str) -> Outcome:
        return self._resolve(transaction_id, "posted")

    def void(self, transaction_id: str) -> Outcome:
        return self._resolve(transaction_id, "voided")

    def legs_of(self, transaction_id: str) -> list[Leg]:
        rows = self.session.scalars(select(LedgerPosting).where(
            LedgerPosting.transaction_id == transaction_id).order_by(LedgerPosting.id))  # type: ignore[arg-type]
        return [Leg(row.account, row.currency, row.direction, row.amount_minor)  # type: ignore[arg-type]
                for row in rows]

    def _resolve(self, transaction_id: str, target: Literal["posted", "voided"]) -> Outcome:
        transaction = self.session.scalars(select(LedgerTransaction).where(
            LedgerTransaction.id == transaction_id).with_for_update()).one_or_none()  # type: ignore[arg-type]
        if transaction is None:
            verb = "post" if target == "posted" else "void"
            raise invalid_data("transactionId", "pending_transaction_exists",
                               f"there is no transaction {transaction_id!r} to {verb}")
        legs = self.legs_of(transaction_id)
        if transaction.status != "pending":
            return Outcome("rejected", transaction_id, legs, reason=f"already_{transaction.status}",
                           message=f"transaction {transaction_id} is {transaction.status}, not pending")
        accounts = ensure(self.session, [leg.account for leg in legs], self.rules, self.now)
        balances = lock_balances(self.session, [(leg.account, leg.currency) for leg in legs])
        totals = self._apply(balances, legs, transaction_id, hold=-1, post=target == "posted")
        transaction.status = target
        transaction.resolved_at = self.now
        self.session.add(transaction)
        return self._outcome(target, transaction_id, legs, totals, accounts)

    def _apply(self, balances: dict[Key, LedgerBalance], legs: list[Leg], transaction_id: str, *, hold: int,
               post: bool) -> dict[Key, Totals]:
        """Write the legs to the locked balance rows: `hold` +1 adds them as pending, -1 releases them; `post`
        moves them into the posted balance with a statement entry each. Plain bulk statements, not the ORM's
        unit of work: this runs for every transaction and the rows are already locked."""
        totals = {key: Totals.of(balance) for key, balance in balances.items()}
        entries = []
        for leg in legs:
            balance = totals[(leg.account, leg.currency)]
            if hold:
                balance.hold(leg, hold)
            if post:
                balance.add(leg, pending=False)
                entries.append({"account": leg.account, "currency": leg.currency, "transaction_id": transaction_id,
                                "amount_minor": leg.signed,
                                "balance_after_minor": balance.posted_debits - balance.posted_credits,
                                "posted_at": self.now})
                self.entries_written[leg.currency] += 1
        self.session.execute(update(LedgerBalance), [
            {"account": account, "currency": currency, "posted_debits": balance.posted_debits,
             "posted_credits": balance.posted_credits, "pending_debits": balance.pending_debits,
             "pending_credits": balance.pending_credits}
            for (account, currency), balance in totals.items()])
        if entries:
            self.session.execute(insert(LedgerEntry), entries)
        return totals

    def _outcome(self, status: Status, transaction_id: str, legs: list[Leg], totals: dict[Key, Totals],
                 accounts: dict[str, AccountSpec]) -> Outcome:
        views = [view(account, currency, balance, accounts[account].type)
                 for (account, currency), balance in sorted(totals.items())]
        return Outcome(status, transaction_id, legs, views)

    def _views(self, legs: list[Leg]) -> list[BalanceView]:
        keys = sorted({(leg.account, leg.currency) for leg in legs})
        accounts = ensure(self.session, [key[0] for key in keys], self.rules, self.now)
        return [view(key[0], key[1], balance, accounts[key[0]].type) for key in keys
                if (balance := self.session.get(LedgerBalance, key)) is not None]
