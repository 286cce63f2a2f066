"""Point-in-time balances: each entry's effective time, each key's latest effective time, and the balance
history in effective order. Existing rows are backfilled from the transactions and their postings."""

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
TOTALS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits")

transactions = sa.table("ledger_transactions", sa.column("id", sa.String), sa.column("status", sa.String),
                        sa.column("effective_at", TIME), sa.column("created_at", TIME),
                        sa.column("resolved_at", TIME))
postings = sa.table("ledger_postings", sa.column("id", ID), sa.column("transaction_id", sa.String),
                    sa.column("account", sa.String), sa.column("direction", sa.String),
                    sa.column("amount_minor", sa.BigInteger), sa.column("currency", sa.String))
entries = sa.table("ledger_entries", sa.column("transaction_id", sa.String), sa.column("effective_at", TIME),
                   sa.column("posted_at", TIME))
balances = sa.table("ledger_balances", sa.column("account", sa.String), sa.column("currency", sa.String),
                    sa.column("effective_through", TIME))
history = sa.table("ledger_balance_history", sa.column("account", sa.String), sa.column("currency", sa.String),
                   sa.column("effective_at", TIME), sa.column("transaction_id", sa.String),
                   *(sa.column(name, sa.BigInteger) for name in TOTALS))


def upgrade() -> None:
    op.add_column("ledger_balances", sa.Column("effective_through", TIME, nullable=True))
    op.add_column("ledger_entries", sa.Column("effective_at", TIME, nullable=True))
    op.create_table(
        "ledger_balance_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_at", TIME, nullable=False),
        sa.Column("transaction_id", sa.String(length=200), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in TOTALS),
    )
    op.create_index("ix_ledger_balance_history_key_effective", "ledger_balance_history",
                    ["account", "currency", "effective_at", "id"])
    _backfill(op.get_bind())
    with op.batch_alter_table("ledger_entries") as batch:
        batch.alter_column("effective_at", existing_type=TIME, nullable=False)
    op.create_index("ix_ledger_entries_account_effective", "ledger_entries", ["account", "effective_at", "id"])


def _backfill(bind: sa.Connection) -> None:
    """Replay every transaction in effective order. A posted transaction whose resolution came with its
    creation was posted directly; otherwise it was held from its effective time until its resolution."""
    legs: dict[str, list[Any]] = defaultdict(list)
    for row in bind.execute(sa.select(postings).order_by(postings.c.id)):
        legs[row.transaction_id].append(row)
    steps: list[tuple[datetime, datetime, str, int, int]] = []  # (effective, created, id, hold sign, posts)
    for row in bind.execute(sa.select(transactions)):
        resolved = max(row.resolved_at, row.effective_at) if row.resolved_at else None
        if row.status == "posted" and row.resolved_at == row.created_at:
            steps.append((row.effective_at, row.created_at, row.id, 0, 1))
            resolved = row.effective_at
        else:
            steps.append((row.effective_at, row.created_at, row.id, 1, 0))
            if resolved is not None:
                steps.append((resolved, row.created_at, row.id, -1, int(row.status == "posted")))
        if row.status == "posted":
            bind.execute(entries.update().where(entries.c.transaction_id == row.id).values(effective_at=resolved))
    bind.execute(entries.update().where(entries.c.effective_at.is_(None)).values(effective_at=entries.c.posted_at))
    running: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    through: dict[tuple[str, str], datetime] = {}
    rows = []
    for at, _, transaction_id, hold, posts in sorted(steps):
        for key in dict.fromkeys((leg.account, leg.currency) for leg in legs[transaction_id]):
            totals = running[key]
            for leg in legs[transaction_id]:
                if (leg.account, leg.currency) == key:
                    credit = int(leg.direction == "credit")
                    totals[2 + credit] += hold * leg.amount_minor
                    totals[credit] += posts * leg.amount_minor
            through[key] = at
            rows.append({"account": key[0], "currency": key[1], "effective_at": at, "transaction_id": transaction_id,
                         **dict(zip(TOTALS, totals, strict=True))})
    if rows:
        bind.execute(history.insert(), rows)
    for (account, currency), at in through.items():
        bind.execute(balances.update().where(balances.c.account == account, balances.c.currency == currency)
                     .values(effective_through=at))


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_account_effective", "ledger_entries")
    op.drop_table("ledger_balance_history")
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("effective_at")
    with op.batch_alter_table("ledger_balances") as batch:
        batch.drop_column("effective_through")
