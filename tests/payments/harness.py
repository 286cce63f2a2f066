"""A payments function on a real store, served over the Flask test client, with its gateway at hand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlmodel import select

from functions.payments.app import build_spec
from functions.payments.gateways import Gateway
from functions.payments.gateways.simulated import SimulatedGateway
from functions.payments.models import Payment, Refund
from functions.payments.settings import PaymentsSettings
from shared.publish import MemoryPublisher
from shared.store import Store
from tests.support import build_app, flask_client, post_event, temporary_store

MIGRATIONS = Path(__file__).resolve().parents[2] / "functions" / "payments" / "migrations"
PAYMENT_REQUESTED = "payments.payment-requested"
REFUND_REQUESTED = "payments.refund-requested"


@dataclass
class Harness:
    client: FlaskClient
    publisher: MemoryPublisher
    gateway: Gateway
    store: Store

    def pay(self, data: dict[str, Any], event_id: str | None = None) -> Any:
        return post_event(self.client, PAYMENT_REQUESTED, data, event_id=event_id)

    def refund(self, data: dict[str, Any], event_id: str | None = None) -> Any:
        return post_event(self.client, REFUND_REQUESTED, data, event_id=event_id)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event.data or {} for event in self.publisher.of_type(event_type)]

    def audits(self) -> list[dict[str, Any]]:
        return self.of_type("audit.payment-events")

    def payment(self, payment_id: str) -> Payment | None:
        with self.store.session() as session:
            found = session.get(Payment, payment_id)
            if found is not None:
                session.expunge(found)
            return found

    def payments(self) -> list[Payment]:
        with self.store.session() as session:
            return list(session.exec(select(Payment)))

    def refunds(self) -> list[Refund]:
        with self.store.session() as session:
            return list(session.exec(select(Refund)))


@contextmanager
def harness(backend: str, tmp_path: Path, settings: PaymentsSettings | None = None,
            gateway: Gateway | None = None) -> Iterator[Harness]:
    settings = settings or PaymentsSettings()
    gateway = gateway or SimulatedGateway()
    with temporary_store(backend, "payments", MIGRATIONS, tmp_path) as store:
        publisher = MemoryPublisher()
        app = build_app(build_spec(settings, gateway), store, settings, publisher)
        yield Harness(flask_client(app), publisher, gateway, store)


def payment(payment_id: str = "pay_1", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "paymentId": payment_id, "customerId": "cus_1", "merchantId": "mer_1", "amount": "100.00",
        "currency": "EUR", "method": {"type": "card", "token": "tok_visa", "last4": "4242", "brand": "visa",
                                      "country": "DE"},
        "billingCountry": "DE", "description": "order 1",
    }
    data.update(overrides)
    return data
