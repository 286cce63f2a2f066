"""The dispute recipes: a hold from the merchant while open, released when won, posted with the chargeback when
lost. The trial balance stays zero throughout and every invariant holds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ledger import invariants
from tests.ledger.conftest import LedgerService
from tests.ledger.test_transactions import payment_processed

MERCHANT, DISPUTES, CLEARING = "merchant:mer_1", "liabilities:disputes", "assets:gateway_clearing:simulated"


def dispute(kind: str = "opened", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"disputeId": "dp_1", "paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1",
                            "amount": "100.00", "currency": "EUR", "gateway": "simulated"}
    if kind == "opened":
        data.update(reason="fraudulent", gatewayReference="sim_1")
    else:
        data.update(outcome="lost", fee={"amount": "15.00", "currency": "EUR"})
    data.update(overrides)
    return data


def balanced(ledger: LedgerService) -> None:
    body = ledger.get("/trial-balance")
    assert body["balanced"], body
    invariants.check(ledger.store)


def opened(ledger: LedgerService) -> None:
    assert ledger.send("payments.payment-processed", payment_processed("pay_1", "100.00", "3.20", "96.80")) \
        .status_code == 200
    assert ledger.send("payments.dispute-opened", dispute()).status_code == 200


def test_opening_holds_the_disputed_amount_from_the_merchant(ledger: LedgerService) -> None:
    opened(ledger)
    assert ledger.balance(MERCHANT, "EUR") == {"currency": "EUR", "posted": "-96.80", "pending": "3.20",
                                               "available": "3.20"}
    assert ledger.balance(DISPUTES, "EUR") == {"currency": "EUR", "posted": "0.00", "pending": "-100.00",
                                               "available": "0.00"}
    assert ledger.get("/transactions/dispute:dp_1")["status"] == "pending"
    balanced(ledger)


def test_winning_voids_the_hold(ledger: LedgerService) -> None:
    opened(ledger)
    won = dispute("closed", outcome="won", fee={"amount": "0.00", "currency": "EUR"})
    assert ledger.send("payments.dispute-closed", won).status_code == 200
    assert ledger.get("/transactions/dispute:dp_1")["status"] == "voided"
    assert ledger.balance(MERCHANT, "EUR") == {"currency": "EUR", "posted": "-96.80", "pending": "-96.80",
                                               "available": "-96.80"}
    assert ledger.get("/transactions/chargeback:dp_1", status=404)
    balanced(ledger)


def test_losing_posts_the_hold_and_the_chargeback_with_its_fee(ledger: LedgerService) -> None:
    opened(ledger)
    assert ledger.send("payments.dispute-closed", dispute("closed")).status_code == 200
    assert ledger.get("/transactions/dispute:dp_1")["status"] == "posted"
    # the merchant had 96.80 owed; it bears the 100.00 returned to the cardholder and the 15.00 fee
    assert ledger.balance(MERCHANT, "EUR")["posted"] == "18.20"
    assert ledger.balance(DISPUTES, "EUR")["posted"] == "0.00"
    assert ledger.balance(CLEARING, "EUR")["posted"] == "-15.00"
    assert ledger.get("/transactions/chargeback:dp_1")["postings"] == [
        {"account": DISPUTES, "direction": "debit", "currency": "EUR", "amount": "100.00"},
        {"account": CLEARING, "direction": "credit", "currency": "EUR", "amount": "100.00"},
        {"account": MERCHANT, "direction": "debit", "currency": "EUR", "amount": "15.00"},
        {"account": CLEARING, "direction": "credit", "currency": "EUR", "amount": "15.00"}]
    balanced(ledger)


def test_a_close_reported_again_changes_nothing(ledger: LedgerService) -> None:
    opened(ledger)
    ledger.send("payments.dispute-closed", dispute("closed"))
    before = invariants.balances(ledger.store)
    ledger.publisher.events.clear()
    assert ledger.send("payments.dispute-closed", dispute("closed")).status_code == 204
    assert ledger.send("payments.dispute-closed", dispute("closed", outcome="won")).status_code == 204
    assert invariants.balances(ledger.store) == before and ledger.publisher.events == []


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_a_close_that_overtakes_its_open_books_the_same(ledger: LedgerService, outcome: str) -> None:
    """dispute-opened and dispute-closed travel on different topics, which Kafka does not order between them."""
    fee = {"amount": "15.00" if outcome == "lost" else "0.00", "currency": "EUR"}
    assert ledger.send("payments.payment-processed", payment_processed("pay_1", "100.00", "3.20", "96.80")) \
        .status_code == 200
    assert ledger.send("payments.dispute-closed", dispute("closed", outcome=outcome, fee=fee)).status_code == 200
    after_close = invariants.balances(ledger.store)
    assert ledger.send("payments.dispute-opened", dispute()).status_code == 204  # the late open changes nothing
    assert invariants.balances(ledger.store) == after_close
    expected = {"won": "-96.80", "lost": "18.20"}[outcome]
    assert ledger.balance(MERCHANT, "EUR") == {"currency": "EUR", "posted": expected, "pending": expected,
                                               "available": expected}
    assert ledger.get("/transactions/dispute:dp_1")["status"] == {"won": "voided", "lost": "posted"}[outcome]
    balanced(ledger)
