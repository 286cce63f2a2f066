"""Accounts are declared in settings or created on first use, with type and flags from rules matched on the name."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from functions.ledger.models import LedgerAccount, LedgerBalance
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


def rule_for(name: str, rules: tuple[AccountRule, ...]) -> AccountRule | None:
    return next((rule for rule in rules if fnmatch.fnmatchcase(name, rule.pattern)), None)


def _insert(session: Session) -> type[postgresql.Insert] | type[sqlite.Insert]:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert  # type: ignore[return-value]


def existing(session: Session, names: list[str]) -> dict[str, AccountSpec]:
    rows = session.scalars(select(LedgerAccount).where(col(LedgerAccount.name).in_(sorted(set(names)))))
    return {row.name: AccountSpec(row.name, row.type, row.debits_must_not_exceed_credits,
                                  row.credits_must_not_exceed_debits) for row in rows}


def ensure(session: Session, names: list[str], rules: tuple[AccountRule, ...], now: datetime,
           found: dict[str, AccountSpec] | None = None) -> dict[str, AccountSpec]:
    """Create the accounts that do not exist yet (safely under concurrency) and return all of them.
    `found`: what the caller already read with `existing`, so it is not read twice."""
    found = existing(session, names) if found is None else found
    missing = sorted(set(names) - set(found))
    if not missing:
        return found
    rows = []
    for name in missing:
        rule = rule_for(name, rules)
        if rule is None:
            raise invalid_data("postings", "account_rule", f"no account rule matches {name!r}")
        rows.append({"name": name, "type": rule.type, "metadata_json": "{}",
                     "debits_must_not_exceed_credits": rule.debits_must_not_exceed_credits,
                     "credits_must_not_exceed_debits": rule.credits_must_not_exceed_debits, "created_at": now})
    session.execute(_insert(session)(LedgerAccount).values(rows).on_conflict_do_nothing())
    return {**found, **existing(session, missing)}


def lock_existing(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], LedgerBalance]:
    """Lock the balance rows that exist, in one statement, in (account, currency) order.

    PostgreSQL takes row locks after the sort, so every writer locks in the same order and two
    transactions over the same accounts queue instead of deadlocking.
    """
    statement = (select(LedgerBalance)
                 .where(tuple_(col(LedgerBalance.account), col(LedgerBalance.currency)).in_(sorted(set(keys))))
                 .order_by(col(LedgerBalance.account), col(LedgerBalance.currency))
                 .with_for_update()
                 .execution_options(populate_existing=True))
    return {(row.account, row.currency): row for row in session.scalars(statement)}


def lock_balances(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], LedgerBalance]:
    """Create missing balance rows, then lock them all in order."""
    session.execute(_insert(session)(LedgerBalance).values(
        [{"account": account, "currency": currency, "posted_debits": 0, "posted_credits": 0,
          "pending_debits": 0, "pending_credits": 0} for account, currency in sorted(set(keys))]
    ).on_conflict_do_nothing())
    return lock_existing(session, keys)


def declare(session: Session, definitions: tuple[AccountDefinition, ...], now: datetime) -> list[str]:
    """Create the declared accounts that do not exist; answer the names whose stored type or flags differ.

    An existing account is never changed here: retyping an account with history is a decision for a
    migration, not a start-up side effect.
    """
    if not definitions:
        return []
    session.execute(_insert(session)(LedgerAccount).values([
        {"name": item.name, "type": item.type, "metadata_json": json.dumps(item.metadata, sort_keys=True),
         "debits_must_not_exceed_credits": item.debits_must_not_exceed_credits,
         "credits_must_not_exceed_debits": item.credits_must_not_exceed_debits, "created_at": now}
        for item in definitions]).on_conflict_do_nothing())
    stored = existing(session, [item.name for item in definitions])
    return [item.name for item in definitions
            if (stored[item.name].type, stored[item.name].debits_must_not_exceed_credits,
                stored[item.name].credits_must_not_exceed_debits)
            != (item.type, item.debits_must_not_exceed_credits, item.credits_must_not_exceed_debits)]
