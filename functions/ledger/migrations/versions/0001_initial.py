"""Ledger tables: accounts, per-currency balances, transactions, postings and statement entries."""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_processed_events_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    create_processed_events_table()
    op.create_table(
        "ledger_accounts",
        sa.Column("name", sa.String(length=200), primary_key=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("debits_must_not_exceed_credits", sa.Boolean(), nullable=False),
        sa.Column("credits_must_not_exceed_debits", sa.Boolean(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ledger_balances",
        sa.Column("account", sa.String(length=200), primary_key=True),
        sa.Column("currency", sa.String(length=3), primary_key=True),
        sa.Column("posted_debits", sa.BigInteger(), nullable=False),
        sa.Column("posted_credits", sa.BigInteger(), nullable=False),
        sa.Column("pending_debits", sa.BigInteger(), nullable=False),
        sa.Column("pending_credits", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.String(length=200), primary_key=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("transaction_id", sa.String(length=200), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
    )
    op.create_index("ix_ledger_postings_transaction_id", "ledger_postings", ["transaction_id"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("transaction_id", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_minor", sa.BigInteger(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ledger_entries_account_id", "ledger_entries", ["account", "id"])


def downgrade() -> None:
    for table in ("ledger_entries", "ledger_postings", "ledger_transactions", "ledger_balances", "ledger_accounts",
                  "processed_events"):
        op.drop_table(table)
