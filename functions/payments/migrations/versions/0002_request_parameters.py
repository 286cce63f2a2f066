"""Payments: keep the charge parameters a reused paymentId is compared with (the card's BIN and a digest of
the payment method token); rows recorded before this revision have neither and are compared without them."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments_payments", sa.Column("card_bin", sa.String(length=8), nullable=True))
    op.add_column("payments_payments", sa.Column("method_token_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments_payments") as batch:
        batch.drop_column("method_token_sha256")
        batch.drop_column("card_bin")
