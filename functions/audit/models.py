"""Tables of the audit function.

`audit_records` is append-only: code inserts rows and never updates them; only the retention purge
deletes, and it leaves a tombstone (sequence, prev_hash, hash) so the chain still links across the gap.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

GENESIS_HASH = "0" * 64
CHAIN_HEAD_ID = 1


class AuditRecord(SQLModel, table=True):
    """One stored audit event, linked to the previous one by `prev_hash`."""

    __tablename__ = "audit_records"
    __table_args__ = (
        sa.UniqueConstraint("record_id", name="uq_audit_records_record_id"),
        sa.UniqueConstraint("event_source", "event_id", name="uq_audit_records_event"),
        # Each query filter has an index ending in the page order (occurred_at, sequence).
        sa.Index("ix_audit_records_occurred", "occurred_at", "sequence"),
        sa.Index("ix_audit_records_service", "service", "occurred_at", "sequence"),
        sa.Index("ix_audit_records_action", "action", "occurred_at", "sequence"),
        sa.Index("ix_audit_records_subject", "subject", "occurred_at", "sequence"),
        sa.Index("ix_audit_records_correlation", "correlation_id", "occurred_at", "sequence"),
        sa.Index("ix_audit_records_customer", "customer_id", "occurred_at"),
        sa.Index("ix_audit_records_recorded", "recorded_at"),
    )

    sequence: int = Field(sa_column=sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False))
    record_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    event_source: str = Field(sa_column=sa.Column(sa.String(512), nullable=False))
    event_id: str = Field(sa_column=sa.Column(sa.String(512), nullable=False))
    event_type: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    service: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    action: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    outcome: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    actor: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    subject: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    correlation_id: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    customer_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    occurred_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    data: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    prev_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))


class AuditChainHead(SQLModel, table=True):
    """The one row writers lock to append: the newest (sequence, hash) and where the stored chain starts.

    `base_*` is the last purged position once a prefix of the chain has been purged; a signed
    checkpoint at exactly that position lets verify trust it.
    """

    __tablename__ = "audit_chain_head"

    id: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True, autoincrement=False))
    sequence: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    base_sequence: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    base_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))


class AuditTombstone(SQLModel, table=True):
    """What is left of a purged record that is not part of a purged prefix: enough to keep linking."""

    __tablename__ = "audit_tombstones"

    sequence: int = Field(sa_column=sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False))
    prev_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    purged_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class AuditCheckpoint(SQLModel, table=True):
    """A head (sequence, hash) signed with the checkpoint key, for an outside party to hold."""

    __tablename__ = "audit_checkpoints"

    id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer(), primary_key=True, autoincrement=True))
    sequence: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False, index=True))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    note: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    signature: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))


class AuditLegalHold(SQLModel, table=True):
    """Records whose subject or correlation id is held are never purged while the hold is active."""

    __tablename__ = "audit_legal_holds"
    __table_args__ = (sa.Index("ix_audit_legal_holds_target", "kind", "value"),)

    id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer(), primary_key=True, autoincrement=True))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # "subject" | "correlation"
    value: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    released_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))


class AuditUpstreamSequence(SQLModel, table=True):
    """Sequence numbers an upstream stream has used, to spot gaps and forks."""

    __tablename__ = "audit_upstream_sequences"

    stream: str = Field(sa_column=sa.Column(sa.String(600), primary_key=True))
    sequence: int = Field(sa_column=sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False))
    event_id: str = Field(sa_column=sa.Column(sa.String(512), nullable=False))
    seen_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


TABLES = frozenset({
    "audit_records", "audit_chain_head", "audit_tombstones", "audit_checkpoints", "audit_legal_holds",
    "audit_upstream_sequences",
})
