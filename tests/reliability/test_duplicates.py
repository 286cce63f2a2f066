"""Every event of a long payment run delivered three times leaves balances, notifications and the audit
log exactly as one delivery does: at-least-once delivery, exactly-once effect.

Run size: PAYMESH_RELIABILITY_PAYMENTS (default 700 in `make test`; `make reliability` runs 2000).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.envelope import Envelope
from tests.support.http_recorder import Recorder, recording_server
from tests.support.mesh import Mesh, mesh

PAYMENTS = int(os.environ.get("PAYMESH_RELIABILITY_PAYMENTS", "700"))
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKENS = ["tok_visa", "tok_visa", "tok_mastercard", "tok_chargeDeclined", "tok_visa", "tok_insufficientFunds"]


def payment_request(n: int, webhook: str) -> Envelope:
    data: dict[str, Any] = {
        "paymentId": f"pay_{n:05d}", "customerId": f"cus_{n % 97:03d}", "merchantId": f"mer_{n % 5}",
        "amount": f"{(n % 400) + 1}.{n % 100:02d}", "currency": "EUR" if n % 3 else "USD",
        "method": {"type": "card", "token": TOKENS[n % len(TOKENS)], "country": "DE"},
        "billingCountry": "DE", "metadata": {"webhookUrl": webhook},
    }
    return Envelope({"specversion": "1.0", "id": f"req-{n}", "source": "/reliability/shop",
                     "type": "payments.payment-requested", "datacontenttype": "application/json",
                     "partitionkey": data["paymentId"]}, data)


def snapshot(app_mesh: Mesh, webhook: Recorder) -> dict[str, Any]:
    balances = {}
    for event in app_mesh.publishers["ledger"].of_type("ledger.balance-updated"):
        assert event.data is not None
        account = event.data["account"]
        if account not in balances:
            balances[account] = app_mesh.get("ledger", f"/accounts/{account}/balances")
    deliveries = Counter(request.headers.get("webhook-id") or request.headers.get("Webhook-Id")
                         for request in webhook.requests)
    verify = app_mesh.get("audit", "/verify")
    return {"trial_balance": app_mesh.get("ledger", "/trial-balance"), "balances": balances,
            "webhooks": sorted(deliveries.items()), "audit_count": verify["count"], "audit_ok": verify["ok"]}


def run(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deliveries: int) -> dict[str, Any]:
    with recording_server(default_status=204) as webhook:
        environment = {"PAYMESH_NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
                       "PAYMESH_NOTIFICATIONS_WEBHOOK_SECRET": SECRET}
        with mesh(backend, tmp_path, environment, monkeypatch) as app_mesh:
            app_mesh.deliveries = deliveries
            for n in range(PAYMENTS):
                app_mesh.send(payment_request(n, webhook.url + "/hook"))
            statuses = Counter(status for _, _, status in app_mesh.statuses)
            assert set(statuses) <= {200, 204}, statuses
            result = snapshot(app_mesh, webhook)
    return result


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    (tmp_path / "once").mkdir()
    (tmp_path / "thrice").mkdir()
    yield tmp_path / "once", tmp_path / "thrice"


@pytest.mark.slow
def test_three_deliveries_of_every_event_equal_one(workdir: tuple[Path, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    once = run("sqlite", workdir[0], monkeypatch, deliveries=1)
    thrice = run("sqlite", workdir[1], monkeypatch, deliveries=3)
    assert once["audit_ok"] and thrice["audit_ok"]
    assert once["webhooks"], "the run sent no notifications: the scenario is not exercising delivery"
    assert all(count == 1 for _, count in once["webhooks"])
    assert thrice == once
