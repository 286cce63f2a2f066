"""A small function used to test the runtime: it writes a row, then obeys `metadata.behaviour`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlmodel import Field, SQLModel, select

from shared.config import RuntimeSettings
from shared.contract import Context, Emit, FunctionSpec
from shared.errors import TransientError, invalid_data
from shared.events import PaymentAuditEvent, PaymentFailed, PaymentRequested
from shared.idempotency import ProcessedEvent
from shared.store import Store

OUTPUTS = frozenset({PaymentFailed.type_name, PaymentAuditEvent.type_name})


class RuntimeProbeRow(SQLModel, table=True):
    __tablename__ = "runtime_probe_rows"

    payment_id: str = Field(primary_key=True)
    amount_minor: int
    currency: str


# Payment ids whose transaction committed, in order: what Context.after_commit reports.
COMMITTED: list[str] = []


def handle(ctx: Context, data: PaymentRequested) -> list[Emit]:
    ctx.after_commit(lambda: COMMITTED.append(data.payment_id))
    ctx.session.add(RuntimeProbeRow(payment_id=data.payment_id, amount_minor=data.money.minor,
                                    currency=data.currency))
    ctx.session.flush()
    behaviour = data.metadata.get("behaviour")
    if behaviour == "reject":
        raise invalid_data("merchantId", "known_merchant", "merchant is not onboarded")
    if behaviour == "transient":
        raise TransientError("gateway timed out")
    if behaviour == "silent":
        return []
    failed = PaymentFailed(payment_id=data.payment_id, customer_id=data.customer_id,
                           merchant_id=data.merchant_id, amount=data.amount, currency=data.currency,
                           reason="card_declined", metadata=data.metadata)
    audit = PaymentAuditEvent(service="payments", action="payment.failed", outcome="failure",
                              subject=data.payment_id, correlation_id=ctx.event.correlation_id)
    return [Emit(failed), Emit(audit)]


def spec(_settings: RuntimeSettings | None = None) -> FunctionSpec:
    function = FunctionSpec("probe", OUTPUTS, tables=frozenset({"runtime_probe_rows"}))
    function.on(PaymentRequested, handle)
    return function


def create_tables(store: Store) -> None:
    SQLModel.metadata.create_all(store.engine, tables=[ProcessedEvent.__table__,  # type: ignore[list-item]
                                                       RuntimeProbeRow.__table__])  # type: ignore[list-item]


def rows(store: Store) -> list[RuntimeProbeRow]:
    with store.session() as session:
        return list(session.exec(select(RuntimeProbeRow)))


def payment(payment_id: str = "pay_1", **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "paymentId": payment_id, "customerId": "cus_1", "merchantId": "mer_1", "amount": "25.00",
        "currency": "EUR", "method": {"type": "card", "token": "tok_visa"},
    }
    data.update(overrides)
    return data


def probe_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'probe.db'}", function="probe")
    create_tables(store)
    yield store
    store.dispose()
