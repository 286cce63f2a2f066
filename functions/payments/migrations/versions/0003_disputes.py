"""Payments: disputes (chargebacks) reported by the gateway, and an index to find a payment by its gateway
reference, which is all a gateway's asynchronous report names."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payments_disputes",
        sa.Column("dispute_id", sa.String(length=128), primary_key=True),
        sa.Column("payment_id", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_payments_disputes_payment_id", "payments_disputes", ["payment_id"])
    op.create_index("ix_payments_payments_gateway_reference", "payments_payments", ["gateway", "gateway_reference"])


def downgrade() -> None:
    op.drop_index("ix_payments_payments_gateway_reference", table_name="payments_payments")
    op.drop_table("payments_disputes")
