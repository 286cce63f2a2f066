"""Tables of the runtime probe (tests only)."""

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
        "runtime_probe_rows",
        sa.Column("payment_id", sa.String(), primary_key=True),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runtime_probe_rows")
    op.drop_table("processed_events")
