"""All SQL of the payments function.

Reads are select() statements through the session. The writes on the hot path are single Core
insert()/update() statements on the session's connection, inside the event's transaction: no ORM unit of
work, no identity-map bookkeeping. Records are built in memory as model instances and written once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from functions.payments.fraud import Window
from functions.payments.models import Dispute, Payment, Refund

PAYMENTS: sa.Table = Payment.__table__  # type: ignore[attr-defined]
REFUNDS: sa.Table = Refund.__table__  # type: ignore[attr-defined]


# Built once, executed with parameters: building a statement per call re-generated it and its cache key on
# every event (finish_payment and find_payment alone were a sixth of payments' CPU per event).
_INSERT_PAYMENT = sa.insert(PAYMENTS)
_INSERT_REFUND = sa.insert(REFUNDS)
_RECENT_ACTIVITY = (
    sa.select(sa.func.count(),
              sa.func.coalesce(sa.func.sum(sa.case((PAYMENTS.c.currency == sa.bindparam("currency"),
                                                    PAYMENTS.c.amount_minor))), 0))
    .where(PAYMENTS.c.customer_id == sa.bindparam("customer_id"), PAYMENTS.c.created_at >= sa.bindparam("since")))
_FIND_PAYMENT = select(Payment).where(Payment.payment_id == sa.bindparam("payment_id"))
_PAYMENT_RECORDED = sa.select(PAYMENTS.c.payment_id).where(PAYMENTS.c.payment_id == sa.bindparam("payment_id"))
_FIND_REFUND = select(Refund).where(Refund.refund_id == sa.bindparam("refund_id"))
_FINISH_PAYMENT = (sa.update(PAYMENTS).where(PAYMENTS.c.payment_id == sa.bindparam("p_payment_id"))
                   .values({name: sa.bindparam(name) for name in (
                       "status", "gateway_reference", "failure_reason", "fee_minor", "net_minor", "updated_at")}))
_FINISH_REFUND = (sa.update(REFUNDS).where(REFUNDS.c.refund_id == sa.bindparam("r_refund_id"))
                  .values({name: sa.bindparam(name) for name in ("status", "failure_reason", "gateway_reference")}))
_RECORD_REFUND = (sa.update(PAYMENTS).where(PAYMENTS.c.payment_id == sa.bindparam("p_payment_id"))
                  .values({name: sa.bindparam(name) for name in ("status", "refunded_minor", "updated_at")}))


def _row(record: Payment | Refund, table: sa.Table) -> dict[str, Any]:
    return {column.name: getattr(record, column.name) for column in table.columns}


# ---- reads ---------------------------------------------------------------------------------------

def find_payment(session: Session, payment_id: str) -> Payment | None:
    return session.exec(_FIND_PAYMENT, params={"payment_id": payment_id}).first()


def payment_recorded(session: Session, payment_id: str) -> bool:
    """Whether the payment id is taken: a Core probe, a sixth of what loading the (usually absent) entity costs."""
    return session.connection().execute(_PAYMENT_RECORDED, {"payment_id": payment_id}).first() is not None



def lock_payment(session: Session, payment_id: str) -> Payment | None:
    """The payment, locked until the transaction ends (PostgreSQL), so concurrent refunds of one payment
    see each other's totals; SQLite serializes writers already."""
    return session.exec(select(Payment).where(Payment.payment_id == payment_id).with_for_update()).first()


def find_refund(session: Session, refund_id: str) -> Refund | None:
    return session.exec(_FIND_REFUND, params={"refund_id": refund_id}).first()


def recent_activity(session: Session, customer_id: str, currency: str, since: datetime) -> Window:
    """Attempts by the customer since `since` (all currencies) and their sum in `currency`."""
    count, total = session.connection().execute(
        _RECENT_ACTIVITY, {"customer_id": customer_id, "currency": currency, "since": since}).one()
    return Window(int(count), int(total))


# ---- hot-path writes -----------------------------------------------------------------------------

def insert_payment(session: Session, payment: Payment) -> None:
    """Claim the payment id before the gateway is asked. A concurrent request for the same id waits here
    (PostgreSQL: on the uncommitted key; SQLite: writers are serialized) and then fails (IntegrityError),
    so the runtime runs it again and it finds this record."""
    session.connection().execute(_INSERT_PAYMENT, _row(payment, PAYMENTS))


def finish_payment(session: Session, payment: Payment) -> None:
    """Write what the decision settled on the payment inserted at the start of its request."""
    session.connection().execute(_FINISH_PAYMENT, {
        "p_payment_id": payment.payment_id, "status": payment.status, "gateway_reference": payment.gateway_reference,
        "failure_reason": payment.failure_reason, "fee_minor": payment.fee_minor, "net_minor": payment.net_minor,
        "updated_at": payment.updated_at})


def insert_refund(session: Session, refund: Refund) -> None:
    """Claim the refund id; a concurrent request for it fails here (IntegrityError)."""
    session.connection().execute(_INSERT_REFUND, _row(refund, REFUNDS))


def finish_refund(session: Session, refund: Refund) -> None:
    session.connection().execute(_FINISH_REFUND, {
        "r_refund_id": refund.refund_id, "status": refund.status, "failure_reason": refund.failure_reason,
        "gateway_reference": refund.gateway_reference})


def record_refund(session: Session, payment_id: str, *, status: str, refunded_minor: int,
                  updated_at: datetime) -> None:
    """Apply a processed refund to its payment: the new state and the new refunded total."""
    session.connection().execute(_RECORD_REFUND, {
        "p_payment_id": payment_id, "status": status, "refunded_minor": refunded_minor, "updated_at": updated_at})


# ---- disputes and gateway reports ----------------------------------------------------------------

DISPUTES: sa.Table = Dispute.__table__  # type: ignore[attr-defined]


def lock_payment_by_reference(session: Session, gateway: str, reference: str) -> Payment | None:
    """The payment a gateway's report names by its reference, locked like lock_payment."""
    return session.exec(select(Payment).where(Payment.gateway == gateway, Payment.gateway_reference == reference)
                        .with_for_update()).first()


def lock_dispute(session: Session, dispute_id: str) -> Dispute | None:
    return session.exec(select(Dispute).where(Dispute.dispute_id == dispute_id).with_for_update()).first()


def insert_dispute(session: Session, dispute: Dispute) -> None:
    """Claim the dispute id; a concurrent report of the same dispute fails here (IntegrityError) and is run
    again by the runtime, finding this row."""
    session.connection().execute(sa.insert(DISPUTES).values(dispute.model_dump()))


def close_dispute(session: Session, dispute_id: str, *, status: str, fee_minor: int, closed_at: datetime) -> None:
    session.connection().execute(
        sa.update(DISPUTES).where(DISPUTES.c.dispute_id == dispute_id)
        .values(status=status, fee_minor=fee_minor, closed_at=closed_at))


def set_payment_status(session: Session, payment_id: str, status: str, updated_at: datetime) -> None:
    session.connection().execute(
        sa.update(PAYMENTS).where(PAYMENTS.c.payment_id == payment_id).values(status=status, updated_at=updated_at))
