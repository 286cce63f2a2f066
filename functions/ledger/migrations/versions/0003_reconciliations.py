"""Ledger: reconciliation of gateway settlement reports (one row per batch, one per line or missing payment)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_reconciliations",
        sa.Column("gateway", sa.String(length=64), primary_key=True),
        sa.Column("batch_id", sa.String(length=128), primary_key=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(length=200), nullable=True),
        sa.Column("lines_reported", sa.Integer(), nullable=False),
        sa.Column("lines_matched", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("settled_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ledger_reconciliation_lines",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("gateway", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=128), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=True),
        sa.Column("fee_minor", sa.BigInteger(), nullable=True),
        sa.Column("net_minor", sa.BigInteger(), nullable=True),
        sa.Column("booked_minor", sa.BigInteger(), nullable=True),
        sa.Column("booked_currency", sa.String(length=3), nullable=True),
        sa.Column("payment_transaction_id", sa.String(length=200), nullable=True),
    )
    op.create_index("ix_ledger_reconciliation_lines_reference", "ledger_reconciliation_lines", ["gateway", "reference"])
    op.create_index("ix_ledger_reconciliation_lines_batch", "ledger_reconciliation_lines", ["gateway", "batch_id"])


def downgrade() -> None:
    op.drop_table("ledger_reconciliation_lines")
    op.drop_table("ledger_reconciliations")
