"""Payments store: payment records and refunds."""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_processed_events_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_processed_events_table()
    op.create_table(
        "payments_payments",
        sa.Column("payment_id", sa.String(length=128), primary_key=True),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("method_type", sa.String(length=16), nullable=False),
        sa.Column("card_brand", sa.String(length=32), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_country", sa.String(length=2), nullable=True),
        sa.Column("billing_country", sa.String(length=2), nullable=True),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=False),
        sa.Column("gateway_reference", sa.String(length=255), nullable=True),
        sa.Column("failure_reason", sa.String(length=64), nullable=True),
        sa.Column("fraud_score", sa.Integer(), nullable=False),
        sa.Column("fraud_decision", sa.String(length=16), nullable=False),
        sa.Column("fraud_rules", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_payments_payments_customer_created", "payments_payments", ["customer_id", "created_at"])
    op.create_table(
        "payments_refunds",
        sa.Column("refund_id", sa.String(length=128), primary_key=True),
        sa.Column("payment_id", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("failure_reason", sa.String(length=64), nullable=True),
        sa.Column("gateway", sa.String(length=32), nullable=False),
        sa.Column("gateway_reference", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_payments_refunds_payment_id", "payments_refunds", ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_refunds_payment_id", table_name="payments_refunds")
    op.drop_table("payments_refunds")
    op.drop_index("ix_payments_payments_customer_created", table_name="payments_payments")
    op.drop_table("payments_payments")
    op.drop_table("processed_events")
