"""The audit log becomes an RFC 6962 transparency log: the hash chain (prev_hash/hash, chain head,
tombstones, HMAC checkpoints) gives way to stored tree hashes, a tree head, signed checkpoints, a pending
table for concurrent ingest and a purged-records table.

Existing records become the first leaves in their sequence order: they are renumbered 1..n without
gaps (records the old purge had already removed are not in the tree), each record's leaf is built from
its columns as functions.audit.leaves.leaf_bytes does at this revision, and the stored hashes are
computed with functions.audit.tlog, batch by batch. The tree head then holds size n and the root but
no signed checkpoint: the function signs one on its first integration (the migration has no key).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 5000


def _content_columns() -> list[sa.Column[object]]:
    return [
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
    ]


def _build_tree(connection: sa.Connection, hashes: sa.Table, head: sa.Table) -> None:
    from functions.audit import frontier, tlog
    from functions.audit.leaves import leaf_bytes

    records = sa.table("audit_records", *[sa.column(column.name, column.type) for column in _content_columns()],
                       sa.column("sequence", sa.BigInteger()))
    old_sequences = [row[0] for row in connection.execute(
        sa.select(records.c.sequence).order_by(records.c.sequence))]
    # New sequences are never above old ones, so renumbering in ascending order never collides.
    renumber = [{"old": old, "new": new} for new, old in enumerate(old_sequences, start=1) if old != new]
    for start in range(0, len(renumber), BATCH):
        connection.execute(sa.update(records).where(records.c.sequence == sa.bindparam("old"))
                           .values(sequence=sa.bindparam("new")), renumber[start:start + BATCH])
    stored: dict[int, bytes] = {}

    def read(indexes: object) -> list[bytes]:
        return [stored[index] for index in indexes]  # type: ignore[attr-defined]

    size = 0
    while True:
        rows = connection.execute(sa.select(records).where(records.c.sequence > size)
                                  .order_by(records.c.sequence).limit(BATCH)).all()
        if not rows:
            break
        first = tlog.stored_hash_count(size)
        new = tlog.stored_hashes_batch(size, [leaf_bytes(row) for row in rows], read)
        stored.update({first + offset: value for offset, value in enumerate(new)})
        connection.execute(sa.insert(hashes), [{"hash_index": first + offset, "hash": value}
                                               for offset, value in enumerate(new)])
        size += len(rows)
    root = tlog.tree_hash(size, read)
    connection.execute(sa.insert(head).values(id=1, size=size, root=root, checkpoint="",
                                              frontier=frontier.pack(size, stored)))


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        *_content_columns(),
        sa.UniqueConstraint("event_source", "event_id", name="uq_audit_pending_event"),
    )
    op.create_index("ix_audit_pending_customer", "audit_pending", ["customer_id", "occurred_at"])
    if op.get_bind().dialect.name == "postgresql":
        # A queue: every row is deleted soon after it is inserted; vacuum it by row count, not by table size.
        op.execute("ALTER TABLE audit_pending SET (autovacuum_vacuum_scale_factor = 0, "
                   "autovacuum_vacuum_threshold = 5000)")
    hashes = op.create_table(
        "audit_tree_hashes",
        sa.Column("hash_index", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    head = op.create_table(
        "audit_tree_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "audit_purged",
        sa.Column("sequence", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("record_id", name="uq_audit_purged_record_id"),
    )
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_column("prev_hash")
        batch.drop_column("hash")
    _build_tree(op.get_bind(), hashes, head)
    op.drop_table("audit_tombstones")
    op.drop_table("audit_chain_head")
    op.drop_index("ix_audit_checkpoints_sequence", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the hash chain cannot be rebuilt from the transparency log: restore a backup")
