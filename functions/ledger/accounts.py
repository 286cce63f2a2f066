"""Account rules: accounts are declared in settings or created on first use, with type and flags from rules
matched on the name. No SQL here: functions/ledger/repository.py reads and writes the rows."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import invalid_data

AccountType = Literal["asset", "liability", "equity", "revenue", "expense"]
# Debit-normal accounts grow with debits; the others with credits. Used for "available" balances.
DEBIT_NORMAL: frozenset[str] = frozenset({"asset", "expense"})


class AccountRule(BaseModel):
    """`pattern` is an fnmatch pattern on the account name; the first matching rule wins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str
    type: AccountType
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False


class AccountDefinition(BaseModel):
    """An account declared up front (PAYMESH_LEDGER_ACCOUNTS) rather than created on first use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-]+(:[A-Za-z0-9_.\-]+)*$")
    type: AccountType
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)


DEFAULT_RULES: tuple[AccountRule, ...] = (
    # A customer wallet holds the customer's money: it may never go negative.
    AccountRule(pattern="customer:*", type="liability", debits_must_not_exceed_credits=True),
    # What we owe a merchant; refunds after payout may take it below zero (a receivable).
    AccountRule(pattern="merchant:*", type="liability"),
    AccountRule(pattern="assets:*", type="asset"),
    AccountRule(pattern="liabilities:*", type="liability"),
    AccountRule(pattern="equity:*", type="equity"),
    AccountRule(pattern="revenue:*", type="revenue"),
    AccountRule(pattern="expenses:*", type="expense"),
    AccountRule(pattern="*", type="asset"),
)


@dataclass(frozen=True, slots=True)
class AccountSpec:
    name: str
    type: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool

    def flags(self) -> tuple[str, bool, bool]:
        return self.type, self.debits_must_not_exceed_credits, self.credits_must_not_exceed_debits


def rule_for(name: str, rules: tuple[AccountRule, ...]) -> AccountRule | None:
    return next((rule for rule in rules if fnmatch.fnmatchcase(name, rule.pattern)), None)


def new_account(name: str, rules: tuple[AccountRule, ...]) -> AccountSpec:
    """The account a first use of `name` creates; a 422 naming the postings when no rule matches."""
    rule = rule_for(name, rules)
    if rule is None:
        raise invalid_data("postings", "account_rule", f"no account rule matches {name!r}")
    return AccountSpec(name, rule.type, rule.debits_must_not_exceed_credits, rule.credits_must_not_exceed_debits)


def declared_spec(definition: AccountDefinition) -> AccountSpec:
    return AccountSpec(definition.name, definition.type, definition.debits_must_not_exceed_credits,
                       definition.credits_must_not_exceed_debits)


def mismatched(definitions: tuple[AccountDefinition, ...], stored: dict[str, AccountSpec]) -> list[str]:
    """The declared names whose stored type or flags differ. An existing account is never changed at
    start-up: retyping an account with history is a decision for a migration."""
    return [item.name for item in definitions if stored[item.name].flags() != declared_spec(item).flags()]
