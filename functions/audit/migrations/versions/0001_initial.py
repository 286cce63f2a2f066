"""Audit log: hash-chained records, chain head, tombstones, checkpoints, legal holds, upstream sequences."""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_processed_events_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    create_processed_events_table()
    op.create_table(
        "audit_records",
        sa.Column("sequence", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("event_source", sa.String(512), nullable=False),
        sa.Column("event_id", sa.String(512), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("record_id", name="uq_audit_records_record_id"),
        sa.UniqueConstraint("event_source", "event_id", name="uq_audit_records_event"),
    )
    op.create_index("ix_audit_records_occurred", "audit_records", ["occurred_at", "sequence"])
    op.create_index("ix_audit_records_service", "audit_records", ["service", "occurred_at", "sequence"])
    op.create_index("ix_audit_records_action", "audit_records", ["action", "occurred_at", "sequence"])
    op.create_index("ix_audit_records_subject", "audit_records", ["subject", "occurred_at", "sequence"])
    op.create_index("ix_audit_records_correlation", "audit_records", ["correlation_id", "occurred_at", "sequence"])
    op.create_index("ix_audit_records_customer", "audit_records", ["customer_id", "occurred_at"])
    op.create_index("ix_audit_records_recorded", "audit_records", ["recorded_at"])

    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("base_sequence", sa.BigInteger(), nullable=False),
        sa.Column("base_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "sequence": 0, "hash": GENESIS_HASH, "base_sequence": 0,
                           "base_hash": GENESIS_HASH}])

    op.create_table(
        "audit_tombstones",
        sa.Column("sequence", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_index("ix_audit_checkpoints_sequence", "audit_checkpoints", ["sequence"])
    op.create_table(
        "audit_legal_holds",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_audit_legal_holds_target", "audit_legal_holds", ["kind", "value"])
    op.create_table(
        "audit_upstream_sequences",
        sa.Column("stream", sa.String(600), primary_key=True),
        sa.Column("sequence", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(512), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_upstream_sequences", "audit_legal_holds", "audit_checkpoints", "audit_tombstones",
                  "audit_chain_head", "audit_records", "processed_events"):
        op.drop_table(table)
