"""An upstream service producing with KafkaJS (the seed's client): plain JSON payment requests, no CloudEvents
headers, reach the ledger through the local engine exactly once each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from paymesh.local.ports import free_port
from paymesh.local.stack import LocalSet
from paymesh.local.supervisor import PORTS
from tests.support import kafkajs
from tests.support.kafka import wait_for

pytestmark = pytest.mark.broker
PAYMENTS = 20


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSet]:
    running = LocalSet(tmp_path_factory.mktemp("paymesh-up"), ports={name: free_port() for name in PORTS})
    try:
        yield running.start()
    finally:
        running.stop()


def test_plain_json_from_kafkajs_is_posted_in_the_ledger_once_per_payment(local: LocalSet) -> None:
    assert local.broker is not None
    run = uuid.uuid4().hex[:8]
    ids = [f"pay_kjs_{run}_{n}" for n in range(PAYMENTS)]
    records = [(payment_id, {"paymentId": payment_id, "customerId": f"cus_{payment_id}", "merchantId": f"mer_{run}",
                             "amount": "10.00", "currency": "EUR", "method": {"type": "card", "token": "tok_visa"}})
               for payment_id in ids]
    assert kafkajs.produce(local.broker.bootstrap, "payments.payment-requested", records) == PAYMENTS

    ledger, reader = local.urls["ledger"], local.auth_headers("reader", "ledger")

    def posted() -> bool:
        return all(httpx.get(f"{ledger}/transactions/payment:{payment_id}", headers=reader).status_code == 200
                   for payment_id in ids)

    assert wait_for(posted, timeout=60), "not every KafkaJS payment reached the ledger"
    entries = httpx.get(f"{ledger}/accounts/merchant:mer_{run}/entries", params={"limit": 1000},
                        headers=reader).json()["entries"]
    assert len(entries) == PAYMENTS  # one credit per payment: nothing lost, nothing twice
