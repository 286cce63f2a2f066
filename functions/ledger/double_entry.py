"""The double-entry rules, free of SQL: legs, per-currency balance, account flags and balance views.

Invariants kept (and checked by the property tests): every transaction balances per currency; an
account's flags hold after every change, counting pending debits or credits against them the way
TigerBeetle does; balances always equal the sum of their postings.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal, Protocol

from functions.ledger.accounts import DEBIT_NORMAL, AccountSpec
from shared.errors import EventError
from shared.money import format_minor

Direction = Literal["debit", "credit"]
Key = tuple[str, str]


@dataclass(frozen=True, slots=True, order=True)
class Leg:
    account: str
    currency: str
    direction: Direction
    minor: int

    @property
    def signed(self) -> int:
        return self.minor if self.direction == "debit" else -self.minor

    @property
    def key(self) -> Key:
        return self.account, self.currency

    def wire(self) -> dict[str, str]:
        return {"account": self.account, "direction": self.direction,
                "amount": format_minor(self.minor, self.currency), "currency": self.currency}


class HasTotals(Protocol):
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int


@dataclass(slots=True)
class Totals:
    posted_debits: int = 0
    posted_credits: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

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

    def plus(self, other: HasTotals, sign: int = 1) -> Totals:
        return Totals(self.posted_debits + sign * other.posted_debits,
                      self.posted_credits + sign * other.posted_credits,
                      self.pending_debits + sign * other.pending_debits,
                      self.pending_credits + sign * other.pending_credits)

    def is_zero(self) -> bool:
        return not (self.posted_debits or self.posted_credits or self.pending_debits or self.pending_credits)


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


def violations(balance: HasTotals, account: AccountSpec) -> list[str]:
    found = []
    if account.debits_must_not_exceed_credits and \
            balance.posted_debits + balance.pending_debits > balance.posted_credits:
        found.append("debits_must_not_exceed_credits")
    if account.credits_must_not_exceed_debits and \
            balance.posted_credits + balance.pending_credits > balance.posted_debits:
        found.append("credits_must_not_exceed_debits")
    return found
