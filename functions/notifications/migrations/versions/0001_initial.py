"""Tables of the notifications function: the delivery journal."""

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
        "notifications_notifications",
        sa.Column("notification_id", sa.String(length=128), primary_key=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient_masked", sa.String(length=256), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("event_source", sa.String(length=512), nullable=True),
        sa.Column("event_id", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_notifications_notifications_status", "notifications_notifications", ["status"])
    op.create_table(
        "notifications_delivery_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(length=128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_message_id", sa.String(length=256), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("notification_id", "number", name="uq_notifications_attempt_number"),
    )
    op.create_index("ix_notifications_delivery_attempts_notification_id", "notifications_delivery_attempts",
                    ["notification_id"])


def downgrade() -> None:
    op.drop_table("notifications_delivery_attempts")
    op.drop_table("notifications_notifications")
    op.drop_table("processed_events")
