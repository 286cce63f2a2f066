"""Accounts are created on first use; their type and flags come from rules matched on the name."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from functions.ledger.models import LedgerAccount, LedgerBalance

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


def ensure(session: Session, names: list[str], rules: tuple[AccountRule, ...], now: datetime) -> dict[str, AccountSpec]:
    """Create the accounts that do not exist yet (safely under concurrency) and return all of them."""
    wanted = sorted(set(names))
    existing = {row.name: row for row in session.scalars(
        select(LedgerAccount).where(LedgerAccount.name.in_(wanted)))}  # type: ignore[attr-defined]
    missing = [name for name in wanted if name not in existing]
    if missing:
        rows = []
        for name in missing:
            rule = rule_for(name, rules)
            if rule is None:
                from shared.errors import invalid_data

                raise invalid_data("postings", "account_rule", f"no account rule matches {name!r}")
            rows.append({"name": name, "type": rule.type, "metadata_json": json.dumps({}),
                         "debits_must_not_exceed_credits": rule.debits_must_not_exceed_credits,
                         "credits_must_not_exceed_debits": rule.credits_must_not_exceed_debits,
                         "created_at": now})
        insert = _insert(session)
        session.execute(insert(LedgerAccount).values(rows).on_conflict_do_nothing())
        existing.update({row.name: row for row in session.scalars(
            select(LedgerAccount).where(LedgerAccount.name.in_(missing)))})  # type: ignore[attr-defined]
    return {name: AccountSpec(name, row.type, row.debits_must_not_exceed_credits, row.credits_must_not_exceed_debits)
            for name, row in existing.items()}


def lock_balances(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], LedgerBalance]:
    """Create missing balance rows, then lock them all in one fixed order so writers never deadlock."""
    ordered = sorted(set(keys))
    insert = _insert(session)
    session.execute(insert(LedgerBalance).values(
        [{"account": account, "currency": currency, "posted_debits": 0, "posted_credits": 0,
          "pending_debits": 0, "pending_credits": 0, "version": 0} for account, currency in ordered]
    ).on_conflict_do_nothing())
    locked: dict[tuple[str, str], LedgerBalance] = {}
    for account, currency in ordered:
        statement = (select(LedgerBalance)
                     .where(LedgerBalance.account == account, LedgerBalance.currency == currency)  # type: ignore[arg-type]
                     .with_for_update())
        row = session.scalars(statement.execution_options(populate_existing=True)).one()
        locked[(account, currency)] = row
    return locked
