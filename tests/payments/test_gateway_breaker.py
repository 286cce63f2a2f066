"""The gateway's circuit breaker: after consecutive unavailable answers it opens, deliveries answer 503 without
calling the gateway (Knative retries them later), and after the cooldown one probe decides."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from functions.payments.app import build_spec
from functions.payments.gateways import ChargeRequest, GatewayResult, GatewayUnavailableError, RefundCall
from functions.payments.gateways.simulated import SimulatedGateway
from functions.payments.settings import PaymentsSettings
from shared.publish import MemoryPublisher
from tests.payments.harness import MIGRATIONS, PAYMENT_REQUESTED, payment
from tests.support import build_app, flask_client, post_event, temporary_store


@dataclass
class FlakyGateway:
    name: str = "simulated"
    down: bool = True
    calls: int = 0
    inner: SimulatedGateway = field(default_factory=SimulatedGateway)

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        self.calls += 1
        if self.down:
            raise GatewayUnavailableError("connection refused")
        return self.inner.authorize(request)

    def capture(self, request: ChargeRequest, reference: str) -> GatewayResult:
        return self.inner.capture(request, reference)

    def refund(self, call: RefundCall) -> GatewayResult:
        return self.inner.refund(call)


def test_an_open_breaker_answers_503_without_calling_the_gateway_until_a_probe_succeeds(tmp_path: Path) -> None:
    settings = PaymentsSettings(payments_gateway_breaker_failures=3, payments_gateway_breaker_cooldown_seconds=0.3)
    gateway = FlakyGateway()
    with temporary_store("sqlite", "payments", MIGRATIONS, tmp_path) as store:
        client = flask_client(build_app(build_spec(settings, gateway), store, settings, MemoryPublisher()))
        statuses = [post_event(client, PAYMENT_REQUESTED, payment(f"pay_{n}")).status_code for n in range(5)]
        assert statuses == [503] * 5
        assert gateway.calls == 3  # the last two were refused by the open breaker, never sent
        refused = post_event(client, PAYMENT_REQUESTED, payment("pay_9"))
        assert refused.status_code == 503 and "circuit open" in refused.get_json()["message"]
        assert gateway.calls == 3
        time.sleep(0.35)
        gateway.down = False
        # the redelivery after the cooldown is the probe; it succeeds and closes the breaker
        assert post_event(client, PAYMENT_REQUESTED, payment("pay_0")).status_code == 200
        assert post_event(client, PAYMENT_REQUESTED, payment("pay_1")).status_code == 200
        assert gateway.calls == 5
