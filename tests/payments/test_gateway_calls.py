"""The gateway is asked only once the whole event is validated: a refused event never reaches it, not even a
conflicting request racing the one that first used its paymentId."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from functions.payments.app import build_spec
from functions.payments.gateways import ChargeRequest, GatewayResult, RefundCall
from functions.payments.gateways.simulated import SimulatedGateway
from functions.payments.settings import PaymentsSettings
from shared.publish import MemoryPublisher
from tests.payments.harness import MIGRATIONS, PAYMENT_REQUESTED, Harness, harness, payment
from tests.support import build_app, flask_client, post_event, temporary_store

VISA = "4242424242424242"


@dataclass
class RecordingGateway:
    """The simulated gateway, recording every call it gets; `hold` parks the first authorize until released."""

    name: str = "simulated"
    inner: SimulatedGateway = field(default_factory=SimulatedGateway)
    calls: list[tuple[str, str]] = field(default_factory=list)
    hold: bool = False
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        self.calls.append(("authorize", request.payment_id))
        if self.hold and not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30)
        return self.inner.authorize(request)

    def capture(self, request: ChargeRequest, reference: str) -> GatewayResult:
        self.calls.append(("capture", request.payment_id))
        return self.inner.capture(request, reference)

    def refund(self, call: RefundCall) -> GatewayResult:
        self.calls.append(("refund", call.refund_id))
        return self.inner.refund(call)


@pytest.fixture
def recorded(backend: str, tmp_path: Path) -> Iterator[Harness]:
    with harness(backend, tmp_path, gateway=RecordingGateway()) as built:
        yield built


def calls(payments: Harness) -> list[tuple[str, str]]:
    assert isinstance(payments.gateway, RecordingGateway)
    return payments.gateway.calls


@pytest.mark.parametrize(("overrides", "status"), [
    ({"metadata": {"note": VISA}}, 422),                   # a PAN, found by the handler
    ({"description": f"card {VISA}"}, 422),
    ({"amount": "0.49"}, 422),                             # below the currency's minimum
    ({"currency": "HUF", "amount": "100"}, 422),           # a currency not accepted
    ({"amount": "1.001"}, 422),                            # schema: too many decimals
    ({"method": {"type": "card"}}, 422),                   # schema: no token
])
def test_an_invalid_payment_never_reaches_the_gateway(recorded: Harness, overrides: dict[str, Any],
                                                      status: int) -> None:
    assert recorded.pay(payment(**overrides)).status_code == status
    assert calls(recorded) == []


def test_a_conflicting_payment_never_reaches_the_gateway(recorded: Harness) -> None:
    assert recorded.pay(payment(), event_id="evt-1").status_code == 200
    assert recorded.pay(payment(amount="5.00"), event_id="evt-2").status_code == 422
    assert recorded.pay(payment(), event_id="evt-3").status_code == 204
    assert calls(recorded) == [("authorize", "pay_1"), ("capture", "pay_1")]


def test_an_invalid_or_conflicting_refund_never_reaches_the_gateway(recorded: Harness) -> None:
    assert recorded.pay(payment()).status_code == 200
    base = {"refundId": "re_1", "paymentId": "pay_1", "amount": "10.00", "currency": "EUR"}
    assert recorded.refund({**base, "metadata": {"why": VISA}}).status_code == 422
    assert recorded.refund({**base, "amount": "-1"}).status_code == 422
    assert recorded.refund(base, event_id="evt-r1").status_code == 200
    assert recorded.refund({**base, "amount": "20.00"}, event_id="evt-r2").status_code == 422
    assert recorded.refund(base, event_id="evt-r3").status_code == 204
    assert calls(recorded) == [("authorize", "pay_1"), ("capture", "pay_1"), ("refund", "re_1")]


def test_a_conflicting_request_racing_the_first_waits_for_it_and_never_reaches_the_gateway(
        backend: str, tmp_path: Path) -> None:
    gateway = RecordingGateway(hold=True)
    settings = PaymentsSettings()
    statuses: dict[str, int] = {}
    with temporary_store(backend, "payments", MIGRATIONS, tmp_path) as store:
        app = build_app(build_spec(settings, gateway), store, settings, MemoryPublisher())

        def send(name: str, data: dict[str, Any]) -> None:
            # a client per thread, as two concurrent deliveries from the dispatcher would be
            statuses[name] = post_event(flask_client(app), PAYMENT_REQUESTED, data, event_id=name).status_code

        first = threading.Thread(target=send, args=("first", payment()))
        first.start()
        assert gateway.entered.wait(30), "the first request never reached the gateway"
        second = threading.Thread(target=send, args=("second", payment(amount="5.00")))
        second.start()
        second.join(0.5)  # time enough for the second request to reach the gateway, were it let through
        gateway.release.set()
        first.join(30)
        second.join(30)
    assert statuses == {"first": 200, "second": 422}
    assert gateway.calls == [("authorize", "pay_1"), ("capture", "pay_1")]
