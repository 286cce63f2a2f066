"""Alembic glue shared by every function's `migrations/env.py`.

Each function keeps its own revisions; `Store.migrate()` hands Alembic the connection to use, so
the version table lands in the function's own schema (PostgreSQL) or file (SQLite).
"""

from __future__ import annotations

import sqlalchemy as sa


def run_online() -> None:
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through shared.store.Store.migrate()")
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def create_processed_events_table() -> None:
    """The idempotency table every function owns (see shared/idempotency.py)."""
    from alembic import op

    op.create_table(
        "processed_events",
        sa.Column("source", sa.String(length=512), primary_key=True),
        sa.Column("event_id", sa.String(length=512), primary_key=True),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )
