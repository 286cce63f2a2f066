"""The SQL of reconciliation (kept beside repository.py): booked payments by gateway reference, what earlier
batches settled, and the stored results. Reads are select() through the session; writes are Core inserts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, cast, func, insert, select
from sqlmodel import Session, col

from functions.ledger.models import LedgerPosting, LedgerReconciliation, LedgerReconciliationLine, LedgerTransaction
from functions.ledger.recipes import clearing_account
from functions.ledger.reconciliation import Booked
from shared.money import Money

PAYMENT_PREFIX = "payment:"


def _reference(session: Session) -> ColumnElement[Any]:
    """The gatewayReference the payment recipe keeps in the transaction's JSON metadata."""
    metadata = col(LedgerTransaction.metadata_json)
    if session.get_bind().dialect.name == "postgresql":
        return func.json_extract_path_text(cast(metadata, JSON), "gatewayReference")
    return func.json_extract(metadata, "$.gatewayReference")


def _booked_payments(session: Session, gateway: str) -> tuple[Any, ColumnElement[Any]]:
    """(id, reference, amount, currency, effective time) of posted payment transactions debiting the gateway's
    clearing account, and the reference expression to filter on."""
    reference = _reference(session)
    statement = (select(col(LedgerTransaction.id), reference, col(LedgerPosting.amount_minor),
                        col(LedgerPosting.currency), col(LedgerTransaction.effective_at))
                 .join(LedgerPosting, col(LedgerPosting.transaction_id) == col(LedgerTransaction.id))
                 .where(col(LedgerTransaction.id).startswith(PAYMENT_PREFIX), col(LedgerTransaction.status) == "posted",
                        col(LedgerPosting.account) == clearing_account(gateway),
                        col(LedgerPosting.direction) == "debit"))
    return statement, reference


def settled_by(session: Session, gateway: str, references: list[str]) -> dict[str, str]:
    """reference -> the batch whose matched line settled it."""
    if not references:
        return {}
    rows = session.execute(select(col(LedgerReconciliationLine.reference), col(LedgerReconciliationLine.batch_id))
                           .where(col(LedgerReconciliationLine.gateway) == gateway,
                                  col(LedgerReconciliationLine.status) == "matched",
                                  col(LedgerReconciliationLine.reference).in_(sorted(set(references))))).all()
    return {row[0]: row[1] for row in rows}


def _as_booked(rows: list[Any], settled: dict[str, str]) -> list[Booked]:
    return [Booked(row[1], row[0], Money(row[3], int(row[2])), row[4], settled.get(row[1])) for row in rows]


def booked(session: Session, gateway: str, references: list[str]) -> dict[str, Booked]:
    """The booked payments of `gateway` with these references (any currency)."""
    statement, reference = _booked_payments(session, gateway)
    rows = list(session.execute(statement.where(reference.in_(sorted(set(references))))).all())
    found = _as_booked(rows, settled_by(session, gateway, [row[1] for row in rows]))
    return {item.reference: item for item in found}


def outstanding(session: Session, gateway: str, currency: str, through: datetime) -> list[Booked]:
    """Booked payments of `gateway` in `currency` effective at or before `through` that no batch settled."""
    statement, _ = _booked_payments(session, gateway)
    rows = list(session.execute(statement.where(col(LedgerPosting.currency) == currency,
                                                col(LedgerTransaction.effective_at) <= through)
                                .order_by(col(LedgerTransaction.effective_at), col(LedgerTransaction.id))).all())
    settled = settled_by(session, gateway, [row[1] for row in rows])
    return [item for item in _as_booked(rows, settled) if item.settled_by is None]


def reconciliation(session: Session, gateway: str, batch_id: str) -> LedgerReconciliation | None:
    return session.get(LedgerReconciliation, (gateway, batch_id))


def reconciliations_of(session: Session, batch_id: str, gateway: str | None) -> list[LedgerReconciliation]:
    statement = select(LedgerReconciliation).where(col(LedgerReconciliation.batch_id) == batch_id)
    if gateway is not None:
        statement = statement.where(col(LedgerReconciliation.gateway) == gateway)
    return list(session.scalars(statement.order_by(col(LedgerReconciliation.gateway))))


def lines_of(session: Session, gateway: str, batch_id: str) -> list[LedgerReconciliationLine]:
    return list(session.scalars(select(LedgerReconciliationLine)
                                .where(col(LedgerReconciliationLine.gateway) == gateway,
                                       col(LedgerReconciliationLine.batch_id) == batch_id)
                                .order_by(col(LedgerReconciliationLine.id))))


def insert_reconciliation(session: Session, row: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    session.execute(insert(LedgerReconciliation).values(**row))
    if lines:
        session.execute(insert(LedgerReconciliationLine), lines)
