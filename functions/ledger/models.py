"""The ledger's tables. Amounts are integer minor units; balances keep debits and credits apart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, Text
from sqlmodel import Field, SQLModel


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_accounts"

    name: str = Field(primary_key=True, max_length=200)
    type: str = Field(max_length=16)
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False
    metadata_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class LedgerBalance(SQLModel, table=True):
    """Running totals of one account in one currency; the row every writer locks."""

    __tablename__ = "ledger_balances"

    account: str = Field(primary_key=True, max_length=200)
    currency: str = Field(primary_key=True, max_length=3)
    posted_debits: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    posted_credits: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    pending_debits: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    pending_credits: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # The latest effective time in this key's history: a change effective before it is a backdated one.
    effective_through: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class LedgerTransaction(SQLModel, table=True):
    __tablename__ = "ledger_transactions"

    id: str = Field(primary_key=True, max_length=200)
    status: str = Field(max_length=8)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    metadata_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    # Fingerprint of the postings: a reused transaction id with other postings is refused.
    fingerprint: str = Field(max_length=64)
    effective_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class LedgerPosting(SQLModel, table=True):
    __tablename__ = "ledger_postings"

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(
        Integer, "sqlite"), primary_key=True, autoincrement=True))
    transaction_id: str = Field(max_length=200, index=True)
    account: str = Field(max_length=200)
    direction: str = Field(max_length=6)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)


class LedgerEntry(SQLModel, table=True):
    """One posted movement of one account: the statement line, with the balance after it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account_id", "account", "id"),
                      Index("ix_ledger_entries_account_effective", "account", "effective_at", "id"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(
        Integer, "sqlite"), primary_key=True, autoincrement=True))
    account: str = Field(max_length=200)
    currency: str = Field(max_length=3)
    transaction_id: str = Field(max_length=200)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False), description="signed: debit > 0")
    balance_after_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    posted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    effective_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class LedgerBalanceHistory(SQLModel, table=True):
    """One account's totals in one currency after each change, in effective-time order (then id).

    The balance at an instant is the last row at or before it: one index probe at any history length.
    A backdated change inserts its row and adds its amounts to the rows effective after it, under the
    same balance-row lock every writer of that account and currency takes.
    """

    __tablename__ = "ledger_balance_history"
    __table_args__ = (Index("ix_ledger_balance_history_key_effective", "account", "currency", "effective_at", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(
        Integer, "sqlite"), primary_key=True, autoincrement=True))
    account: str = Field(max_length=200)
    currency: str = Field(max_length=3)
    effective_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    transaction_id: str = Field(max_length=200)
    posted_debits: int = Field(sa_column=Column(BigInteger, nullable=False))
    posted_credits: int = Field(sa_column=Column(BigInteger, nullable=False))
    pending_debits: int = Field(sa_column=Column(BigInteger, nullable=False))
    pending_credits: int = Field(sa_column=Column(BigInteger, nullable=False))


TABLES = frozenset({"ledger_accounts", "ledger_balances", "ledger_transactions", "ledger_postings",
                    "ledger_entries", "ledger_balance_history"})
