"""Settlement runs: payouts held per merchant, currency and period, posted when paid, voided when failed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.ledger.app import build_spec
from functions.ledger.settings import LedgerSettings
from functions.ledger.settlement import IN_TRANSIT, payout_id
from shared.publish import MemoryPublisher
from tests.ledger.conftest import LedgerService
from tests.ledger.invariants import check
from tests.support import build_app, flask_client, reply_json, temporary_store


@pytest.fixture
def settled(backend: str, tmp_path: Path) -> Iterator[LedgerService]:
    settings = LedgerSettings(ledger_payout_reserve_bps=1000)  # keep 10% back
    spec = build_spec(settings)
    with temporary_store(backend, "ledger", spec.migrations, tmp_path) as store:
        publisher = MemoryPublisher()
        yield LedgerService(flask_client(build_app(spec, store, settings, publisher)), publisher, store)


def pay(ledger: LedgerService, payment_id: str, merchant: str, amount: str, fee: str, net: str,
        currency: str = "EUR") -> None:
    data = {"paymentId": payment_id, "customerId": "cus_1", "merchantId": merchant, "amount": amount,
            "currency": currency, "fee": {"amount": fee, "currency": currency},
            "net": {"amount": net, "currency": currency}, "gateway": "simulated", "gatewayReference": payment_id}
    assert ledger.send("payments.payment-processed", data).status_code == 200


def payouts(ledger: LedgerService) -> dict[tuple[str, str], dict[str, Any]]:
    return {(event.data["merchantId"], event.data["currency"]): event.data for event in ledger.publisher.events
            if event.type == "ledger.payout-created"}


def trial_balance_is_zero(ledger: LedgerService) -> None:
    body = ledger.get("/trial-balance")
    assert body["balanced"], body
    assert all(item["pendingDebits"] == item["pendingCredits"] for item in body["currencies"]), body
    check(ledger.store)


def test_a_settlement_holds_each_merchants_available_balance_less_the_reserve(settled: LedgerService) -> None:
    pay(settled, "p1", "mer_a", "100.00", "3.00", "97.00")
    pay(settled, "p2", "mer_b", "50.00", "1.00", "49.00")
    pay(settled, "p3", "mer_b", "1000", "0", "1000", currency="JPY")
    assert settled.send("ledger.settlement-requested", {"period": "2026-11-28"}).status_code == 200
    created = payouts(settled)
    # 97.00 less 10% (9.70) -> 87.30; 49.00 -> 44.10; JPY 1000 -> 900
    assert {key: item["amount"] for key, item in created.items()} == {
        ("mer_a", "EUR"): "87.30", ("mer_b", "EUR"): "44.10", ("mer_b", "JPY"): "900"}
    assert created[("mer_a", "EUR")]["payoutId"] == payout_id("mer_a", "EUR", "2026-11-28")
    assert settled.balance("merchant:mer_a", "EUR") == {"currency": "EUR", "posted": "-97.00", "pending": "-9.70",
                                                        "available": "-9.70"}
    assert settled.balance(IN_TRANSIT, "EUR")["pending"] == "-131.40"
    assert settled.get(f"/transactions/{created[('mer_a', 'EUR')]['payoutId']}")["status"] == "pending"
    trial_balance_is_zero(settled)


def test_a_period_settles_once(settled: LedgerService) -> None:
    pay(settled, "p1", "mer_a", "100.00", "3.00", "97.00")
    assert settled.send("ledger.settlement-requested", {"period": "2026-11-28"}).status_code == 200
    pay(settled, "p2", "mer_a", "10.00", "0", "10.00")
    before = len(settled.publisher.events)
    again = settled.send("ledger.settlement-requested", {"period": "2026-11-28"})  # a new event, same period
    assert again.status_code == 204 and len(settled.publisher.events) == before
    # The next period pays what came in since, less its reserve; the pending payout is not paid twice.
    assert settled.send("ledger.settlement-requested", {"period": "2026-11-29"}).status_code == 200
    latest = [event.data for event in settled.publisher.events if event.type == "ledger.payout-created"][-1]
    # owed: the 9.70 kept back last time plus the new 10.00; 10% of 19.70 is kept back again
    assert (latest["period"], latest["amount"]) == ("2026-11-29", "17.73")
    trial_balance_is_zero(settled)


def test_paid_posts_and_failed_voids(settled: LedgerService) -> None:
    pay(settled, "p1", "mer_a", "100.00", "3.00", "97.00")
    pay(settled, "p2", "mer_b", "50.00", "1.00", "49.00")
    settled.send("ledger.settlement-requested", {"period": "2026-11-28"})
    created = payouts(settled)
    paid = {"payoutId": created[("mer_a", "EUR")]["payoutId"], "reference": "bank_1"}
    assert settled.send("ledger.payout-paid", paid).status_code == 200
    assert settled.balance("merchant:mer_a", "EUR")["posted"] == "-9.70"
    assert settled.balance(IN_TRANSIT, "EUR")["posted"] == "-87.30"
    again = settled.send("ledger.payout-paid", paid)  # the confirmation twice: no second posting
    assert reply_json(again)["details"]["reason"] == "already_posted"
    assert settled.balance("merchant:mer_a", "EUR")["posted"] == "-9.70"

    failed = {"payoutId": created[("mer_b", "EUR")]["payoutId"], "reason": "account closed"}
    assert settled.send("ledger.payout-failed", failed).status_code == 200
    assert settled.balance("merchant:mer_b", "EUR") == {"currency": "EUR", "posted": "-49.00", "pending": "-49.00",
                                                        "available": "-49.00"}
    assert settled.get(f"/transactions/{failed['payoutId']}")["status"] == "voided"
    trial_balance_is_zero(settled)


def test_only_payouts_can_be_confirmed(settled: LedgerService) -> None:
    unknown = settled.send("ledger.payout-paid", {"payoutId": "po_nothing"})
    assert unknown.status_code == 422 and reply_json(unknown)["field"] == "data.payoutId"
    settled.transfer("t1", ("assets:cash", "debit", "1.00", "EUR"), ("merchant:mer_a", "credit", "1.00", "EUR"),
                     pending=True)
    other = settled.send("ledger.payout-failed", {"payoutId": "t1", "reason": "no"})
    assert other.status_code == 422 and reply_json(other)["rule"] == "payout_exists"
    assert settled.get("/transactions/t1")["status"] == "pending"


def test_one_merchant_and_currency_and_nothing_for_a_receivable(settled: LedgerService) -> None:
    pay(settled, "p1", "mer_a", "100.00", "3.00", "97.00")
    pay(settled, "p2", "mer_b", "50.00", "1.00", "49.00")
    pay(settled, "p3", "mer_b", "1000", "0", "1000", currency="JPY")
    settled.transfer("chargeback", ("merchant:mer_c", "debit", "5.00", "EUR"),
                     ("assets:cash", "credit", "5.00", "EUR"))
    request = {"period": "2026-11-28", "merchantId": "mer_b", "currency": "JPY"}
    assert settled.send("ledger.settlement-requested", request).status_code == 200
    assert list(payouts(settled)) == [("mer_b", "JPY")]
    assert settled.send("ledger.settlement-requested", {"period": "2026-11-28", "merchantId": "mer_c"}).status_code \
        == 204  # owes us 5.00: no payout
    assert settled.send("ledger.settlement-requested", {"period": "2026-11-28", "currency": "USD"}).status_code \
        == 204  # nobody holds USD
    bad = settled.send("ledger.settlement-requested", {"period": "2026/11/28"})
    assert bad.status_code == 422 and reply_json(bad)["field"] == "data.period"
    trial_balance_is_zero(settled)


def test_an_account_whose_suffix_cannot_be_a_merchant_id_is_left_alone(settled: LedgerService) -> None:
    long_name = "merchant:" + "m" * 150  # a valid account name, too long for a merchant id on an event
    settled.transfer("t1", ("assets:cash", "debit", "5.00", "EUR"), (long_name, "credit", "5.00", "EUR"))
    pay(settled, "p1", "mer_a", "10.00", "0", "10.00")
    assert settled.send("ledger.settlement-requested", {"period": "2026-11-28"}).status_code == 200
    assert list(payouts(settled)) == [("mer_a", "EUR")]
    assert settled.balance(long_name, "EUR")["available"] == "-5.00"
    trial_balance_is_zero(settled)


def test_the_daily_ping_source_settles_the_day_that_ended_once(settled: LedgerService) -> None:
    """eventing/ledger/pingsource.yaml's tick (a PingSource event, not a catalog type) settles yesterday (UTC);
    a second tick the same day pays nothing twice."""
    from datetime import UTC, datetime, timedelta

    from paymesh.local.pings import load_pings, ping_request

    [ping] = [p for p in load_pings(Path(__file__).resolve().parents[2] / "eventing") if p.name == "ledger-settlement"]
    assert ping.sink == "ledger" and ping.due(datetime(2026, 11, 29, 0, 5, tzinfo=UTC))
    pay(settled, "p1", "mer_a", "100.00", "3.00", "97.00")
    for _ in range(2):
        headers, body = ping_request(ping, datetime.now(UTC))
        assert settled.client.post("/", data=body, headers=headers).status_code in {200, 204}
    created = list(payouts(settled).values())
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert [(item["period"], item["amount"]) for item in created] == [(yesterday, "87.30")]
    trial_balance_is_zero(settled)
