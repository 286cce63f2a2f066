"""Tables of the audit function.

`audit_records` is append-only: the integrator inserts rows and nothing updates them; only the
retention purge deletes a record's row, leaving an `audit_purged` row, while its leaf hash stays in
`audit_tree_hashes`, so every proof made before the purge still verifies.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

TREE_HEAD_ID = 1
EMPTY_ROOT = bytes(32)  # Go's tlog.TreeHash of the empty tree


class AuditRecord(SQLModel, table=True):
    """One integrated audit event: record `sequence` is leaf `sequence - 1` of the tree."""

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


class AuditPending(SQLModel, table=True):
    """A record accepted (durably) but not yet integrated into the tree; the integrator moves it out."""

    __tablename__ = "audit_pending"
    __table_args__ = (
        sa.UniqueConstraint("event_source", "event_id", name="uq_audit_pending_event"),
        sa.Index("ix_audit_pending_customer", "customer_id", "occurred_at"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                                             primary_key=True, autoincrement=True))
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


class AuditTreeHash(SQLModel, table=True):
    """The tree's stored hashes in Go sumdb/tlog's layout: append-only, one row per stored-hash index."""

    __tablename__ = "audit_tree_hashes"

    hash_index: int = Field(sa_column=sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))


class AuditTreeHead(SQLModel, table=True):
    """The one row integrators lock and move: the tree's size, root and newest signed checkpoint."""

    __tablename__ = "audit_tree_head"

    id: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True, autoincrement=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    root: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    checkpoint: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))  # signed note; "" until first signed
    # roots of the complete subtrees of the tree of `size` records, largest first (functions/audit/frontier.py)
    frontier: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    kept_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))


class AuditCheckpoint(SQLModel, table=True):
    """Every checkpoint signed so far (one per integration), for /verify to hold the tree to."""

    __tablename__ = "audit_checkpoints"

    size: int = Field(sa_column=sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    note: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class AuditPurged(SQLModel, table=True):
    """A record whose content the retention purge removed; its leaf hash stays in the tree."""

    __tablename__ = "audit_purged"
    __table_args__ = (sa.UniqueConstraint("record_id", name="uq_audit_purged_record_id"),)

    sequence: int = Field(sa_column=sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False))
    record_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    purged_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


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
    "audit_records", "audit_pending", "audit_tree_hashes", "audit_tree_head", "audit_checkpoints", "audit_purged",
    "audit_legal_holds", "audit_upstream_sequences",
})
