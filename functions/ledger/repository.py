"""All of the ledger's SQL. Reads are select() through the session; hot-path writes are Core statements
(the balance rows they touch are already locked), never the ORM unit of work."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from functions.ledger.accounts import AccountDefinition, AccountRule, AccountSpec, mismatched, new_account
from functions.ledger.double_entry import HasTotals, Key, Leg, Totals
from functions.ledger.models import (
    LedgerAccount,
    LedgerBalance,
    LedgerBalanceHistory,
    LedgerEntry,
    LedgerPosting,
    LedgerTransaction,
)


def utc(value: datetime) -> datetime:
    """SQLite hands back the stored UTC times without their zone; PostgreSQL with it."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Hot-path statements work on the tables (Core), not the ORM classes: no entity loading, no bulk-persistence
# layer, and each statement compiles once (executemany rather than a multi-row VALUES that compiles per size).
ACCOUNTS: Table = LedgerAccount.__table__  # type: ignore[attr-defined]
BALANCES: Table = LedgerBalance.__table__  # type: ignore[attr-defined]
TRANSACTIONS: Table = LedgerTransaction.__table__  # type: ignore[attr-defined]
POSTINGS: Table = LedgerPosting.__table__  # type: ignore[attr-defined]
ENTRIES: Table = LedgerEntry.__table__  # type: ignore[attr-defined]
HISTORY: Table = LedgerBalanceHistory.__table__  # type: ignore[attr-defined]
_WRITE_BALANCE = (update(BALANCES)
                  .where(BALANCES.c.account == bindparam("b_account"), BALANCES.c.currency == bindparam("b_currency"))
                  .values(posted_debits=bindparam("b_posted_debits"), posted_credits=bindparam("b_posted_credits"),
                          pending_debits=bindparam("b_pending_debits"), pending_credits=bindparam("b_pending_credits"),
                          effective_through=bindparam("b_effective_through")))
# Built once: constructing a statement and its cache key per event was a tenth of the ledger's CPU per event.
_EXISTING_ACCOUNTS = select(ACCOUNTS.c.name, ACCOUNTS.c.type, ACCOUNTS.c.debits_must_not_exceed_credits,
                            ACCOUNTS.c.credits_must_not_exceed_debits).where(
    ACCOUNTS.c.name.in_(bindparam("names", expanding=True)))
_LOCK_BALANCES = (select(BALANCES)
                  .where(tuple_(BALANCES.c.account, BALANCES.c.currency).in_(bindparam("keys", expanding=True)))
                  .order_by(BALANCES.c.account, BALANCES.c.currency)
                  .with_for_update())
_FINGERPRINT = select(TRANSACTIONS.c.fingerprint).where(TRANSACTIONS.c.id == bindparam("id"))
_INSERT_TRANSACTION = insert(TRANSACTIONS)
_INSERT_POSTINGS = insert(POSTINGS)
_INSERT_ENTRIES = insert(ENTRIES)
_INSERT_HISTORY = insert(HISTORY)
# Per dialect: INSERT ... ON CONFLICT DO NOTHING for rows that concurrent first uses may both create.
_CREATE_ACCOUNTS = {"postgresql": postgresql.insert(ACCOUNTS).on_conflict_do_nothing(),
                    "sqlite": sqlite.insert(ACCOUNTS).on_conflict_do_nothing()}
_CREATE_BALANCES = {"postgresql": postgresql.insert(BALANCES).on_conflict_do_nothing(),
                    "sqlite": sqlite.insert(BALANCES).on_conflict_do_nothing()}


class BalanceRow(HasTotals, Protocol):
    """A locked balance row as the hot path reads it (Core, not an entity)."""

    effective_through: datetime | None


def _insert(session: Session) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert  # type: ignore[return-value]


def _dialect(session: Session) -> str:
    return "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"


# ---- accounts -------------------------------------------------------------------------------------

def account(session: Session, name: str) -> LedgerAccount | None:
    return session.get(LedgerAccount, name)


def existing_accounts(session: Session, names: list[str]) -> dict[str, AccountSpec]:
    rows = session.connection().execute(_EXISTING_ACCOUNTS, {"names": sorted(set(names))})
    return {row.name: AccountSpec(row.name, row.type, row.debits_must_not_exceed_credits,
                                  row.credits_must_not_exceed_debits) for row in rows}


def ensure_accounts(session: Session, names: list[str], rules: tuple[AccountRule, ...], now: datetime,
                    found: dict[str, AccountSpec] | None = None) -> dict[str, AccountSpec]:
    """Create the accounts that do not exist yet (safely under concurrency) and return all of them.
    `found`: what the caller already read with `existing_accounts`, so it is not read twice."""
    found = existing_accounts(session, names) if found is None else found
    missing = sorted(set(names) - set(found))
    if not missing:
        return found
    specs = [new_account(name, rules) for name in missing]
    session.connection().execute(_CREATE_ACCOUNTS[_dialect(session)], [
        {"name": spec.name, "type": spec.type, "metadata_json": "{}",
         "debits_must_not_exceed_credits": spec.debits_must_not_exceed_credits,
         "credits_must_not_exceed_debits": spec.credits_must_not_exceed_debits, "created_at": now}
        for spec in specs])
    return {**found, **existing_accounts(session, missing)}


def declare_accounts(session: Session, definitions: tuple[AccountDefinition, ...], now: datetime) -> list[str]:
    """Create the declared accounts that do not exist; answer the names whose stored type or flags differ."""
    if not definitions:
        return []
    session.execute(_insert(session)(LedgerAccount).values([
        {"name": item.name, "type": item.type, "metadata_json": json.dumps(item.metadata, sort_keys=True),
         "debits_must_not_exceed_credits": item.debits_must_not_exceed_credits,
         "credits_must_not_exceed_debits": item.credits_must_not_exceed_debits, "created_at": now}
        for item in definitions]).on_conflict_do_nothing())
    return mismatched(definitions, existing_accounts(session, [item.name for item in definitions]))


# ---- balances -------------------------------------------------------------------------------------

def lock_existing_balances(session: Session, keys: list[Key]) -> dict[Key, BalanceRow]:
    """Lock the balance rows that exist, in one statement, in (account, currency) order.

    PostgreSQL takes row locks after the sort, so every writer locks in the same order and two
    transactions over the same accounts queue instead of deadlocking.
    """
    rows = session.connection().execute(_LOCK_BALANCES, {"keys": sorted(set(keys))})
    return {(row.account, row.currency): row for row in rows}


def lock_balances(session: Session, keys: list[Key]) -> dict[Key, BalanceRow]:
    """Create missing balance rows, then lock them all in order."""
    session.connection().execute(_CREATE_BALANCES[_dialect(session)], [
        {"account": account, "currency": currency, "posted_debits": 0, "posted_credits": 0,
         "pending_debits": 0, "pending_credits": 0} for account, currency in sorted(set(keys))])
    return lock_existing_balances(session, keys)


def balance(session: Session, key: Key) -> LedgerBalance | None:
    return session.get(LedgerBalance, key)


def balances_of(session: Session, name: str) -> list[LedgerBalance]:
    return list(session.scalars(select(LedgerBalance).where(col(LedgerBalance.account) == name)
                                .order_by(col(LedgerBalance.currency))))


def write_balances(session: Session, totals: dict[Key, Totals], through: dict[Key, datetime]) -> None:
    """Store the new totals, and each key's latest effective time (`through`)."""
    session.connection().execute(_WRITE_BALANCE, [
        {"b_account": account, "b_currency": currency, "b_posted_debits": balance.posted_debits,
         "b_posted_credits": balance.posted_credits, "b_pending_debits": balance.pending_debits,
         "b_pending_credits": balance.pending_credits, "b_effective_through": through[(account, currency)]}
        for (account, currency), balance in totals.items()])


def trial_balance(session: Session) -> list[tuple[str, int, int, int, int]]:
    """Per currency: posted debits, posted credits, pending debits, pending credits."""
    rows = session.execute(
        select(col(LedgerBalance.currency), func.sum(col(LedgerBalance.posted_debits)),
               func.sum(col(LedgerBalance.posted_credits)), func.sum(col(LedgerBalance.pending_debits)),
               func.sum(col(LedgerBalance.pending_credits)))
        .group_by(col(LedgerBalance.currency)).order_by(col(LedgerBalance.currency))).all()
    return [(row[0], *(int(value or 0) for value in row[1:])) for row in rows]


def posted_by_currency_and_type(session: Session) -> list[tuple[str, str, int]]:
    """(currency, account type, posted debits less credits) for the balance metric."""
    rows = session.execute(
        select(col(LedgerBalance.currency), col(LedgerAccount.type),
               func.sum(col(LedgerBalance.posted_debits) - col(LedgerBalance.posted_credits)))
        .join(LedgerAccount, col(LedgerAccount.name) == col(LedgerBalance.account))
        .group_by(col(LedgerBalance.currency), col(LedgerAccount.type))).all()
    return [(row[0], row[1], int(row[2] or 0)) for row in rows]


# ---- transactions, postings, entries --------------------------------------------------------------

def transaction(session: Session, transaction_id: str) -> LedgerTransaction | None:
    return session.get(LedgerTransaction, transaction_id)


def transaction_fingerprint(session: Session, transaction_id: str) -> str | None:
    """The stored fingerprint of `transaction_id`, or None when there is no such transaction."""
    value: str | None = session.connection().execute(_FINGERPRINT, {"id": transaction_id}).scalar_one_or_none()
    return value


def lock_transaction(session: Session, transaction_id: str) -> LedgerTransaction | None:
    return session.scalars(select(LedgerTransaction).where(col(LedgerTransaction.id) == transaction_id)
                           .with_for_update().execution_options(populate_existing=True)).one_or_none()


def insert_transaction(session: Session, row: dict[str, Any], legs: list[Leg]) -> None:
    connection = session.connection()
    connection.execute(_INSERT_TRANSACTION, row)
    connection.execute(_INSERT_POSTINGS, [
        {"transaction_id": row["id"], "account": leg.account, "direction": leg.direction,
         "amount_minor": leg.minor, "currency": leg.currency} for leg in legs])


def resolve_transaction(session: Session, transaction_id: str, status: str, now: datetime) -> None:
    session.execute(update(LedgerTransaction).where(col(LedgerTransaction.id) == transaction_id)
                    .values(status=status, resolved_at=now))


def postings_of(session: Session, transaction_id: str) -> list[LedgerPosting]:
    return list(session.scalars(select(LedgerPosting).where(col(LedgerPosting.transaction_id) == transaction_id)
                                .order_by(col(LedgerPosting.id))))


def legs_of(session: Session, transaction_id: str) -> list[Leg]:
    return [Leg(row.account, row.currency, row.direction, row.amount_minor)  # type: ignore[arg-type]
            for row in postings_of(session, transaction_id)]


def insert_entries(session: Session, entries: list[dict[str, Any]]) -> None:
    if entries:
        session.connection().execute(_INSERT_ENTRIES, entries)


def entries_page(session: Session, name: str, *, after_id: int, limit: int, currency: str | None,
                 effective_after: datetime | None = None, effective_until: datetime | None = None) -> list[LedgerEntry]:
    """Up to `limit` statement lines of `name` with an id above `after_id`, in id order, optionally only those
    effective in (effective_after, effective_until]."""
    statement = select(LedgerEntry).where(col(LedgerEntry.account) == name, col(LedgerEntry.id) > after_id)
    if currency:
        statement = statement.where(col(LedgerEntry.currency) == currency)
    if effective_after is not None:
        statement = statement.where(col(LedgerEntry.effective_at) > effective_after)
    if effective_until is not None:
        statement = statement.where(col(LedgerEntry.effective_at) <= effective_until)
    return list(session.scalars(statement.order_by(col(LedgerEntry.id)).limit(limit)))


# ---- point-in-time history (see LedgerBalanceHistory) ---------------------------------------------

def history_at(session: Session, key: Key, at: datetime) -> LedgerBalanceHistory | None:
    """The key's last history row effective at or before `at`: its totals are the balance at `at`."""
    account, currency = key
    return session.scalars(
        select(LedgerBalanceHistory)
        .where(col(LedgerBalanceHistory.account) == account, col(LedgerBalanceHistory.currency) == currency,
               col(LedgerBalanceHistory.effective_at) <= at)
        .order_by(col(LedgerBalanceHistory.effective_at).desc(), col(LedgerBalanceHistory.id).desc())
        .limit(1)).one_or_none()


def balances_at(session: Session, name: str, at: datetime) -> list[LedgerBalanceHistory]:
    """Per currency of `name` that had moved by `at`, the history row holding its totals at `at`."""
    found = (history_at(session, (name, row.currency), at) for row in balances_of(session, name))
    return [row for row in found if row is not None]


def shift_history_after(session: Session, key: Key, at: datetime, delta: Totals) -> None:
    """Add a backdated change to the totals of every history row effective after it. The caller holds the
    key's balance-row lock, so no other writer changes this key's history meanwhile."""
    account, currency = key
    table = LedgerBalanceHistory
    session.execute(update(table).where(col(table.account) == account, col(table.currency) == currency,
                                        col(table.effective_at) > at).values(
        posted_debits=col(table.posted_debits) + delta.posted_debits,
        posted_credits=col(table.posted_credits) + delta.posted_credits,
        pending_debits=col(table.pending_debits) + delta.pending_debits,
        pending_credits=col(table.pending_credits) + delta.pending_credits).execution_options(
        synchronize_session=False))


def insert_history(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(_INSERT_HISTORY, rows)


# ---- settlement -----------------------------------------------------------------------------------

def merchant_balance_keys(session: Session, prefix: str, merchant: str | None, currency: str | None) -> list[Key]:
    """The (account, currency) of every merchant balance, or of one merchant and/or currency, in order."""
    statement = select(col(LedgerBalance.account), col(LedgerBalance.currency))
    if merchant is not None:
        statement = statement.where(col(LedgerBalance.account) == f"{prefix}{merchant}")
    else:
        statement = statement.where(col(LedgerBalance.account).startswith(prefix, autoescape=True))
    if currency is not None:
        statement = statement.where(col(LedgerBalance.currency) == currency)
    return [(account, code) for account, code in session.execute(
        statement.order_by(col(LedgerBalance.account), col(LedgerBalance.currency)))]
