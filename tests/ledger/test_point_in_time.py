"""Point-in-time balances and statements filtered on effective time, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.ledger.conftest import LedgerService
from tests.ledger.invariants import check
from tests.support import reply_json

CASH, OWNER = "assets:cash", "equity:owner"


def fund(ledger: LedgerService, transaction_id: str, amount: str, effective_at: str | None = None,
         **extra: Any) -> None:
    if effective_at:
        extra["effectiveAt"] = effective_at
    response = ledger.transfer(transaction_id, (CASH, "debit", amount, "EUR"), (OWNER, "credit", amount, "EUR"),
                               **extra)
    assert response.status_code == 200 and reply_json(response).get("action") != "transaction.rejected"


def posted_at(ledger: LedgerService, account: str, at: str) -> list[tuple[str, str]]:
    body = ledger.get(f"/accounts/{account}/balances?at={at}")
    return [(item["currency"], item["posted"]) for item in body["balances"]]


def test_a_backdated_transaction_counts_from_its_effective_time(ledger: LedgerService) -> None:
    fund(ledger, "t1", "1.00", "2026-01-10T00:00:00Z")
    fund(ledger, "t2", "2.00", "2026-01-20T00:00:00Z")
    fund(ledger, "t3", "4.00", "2026-01-15T00:00:00+02:00")  # recorded last, effective in between
    assert posted_at(ledger, CASH, "2026-01-09T23:59:59Z") == []
    assert posted_at(ledger, CASH, "2026-01-10T00:00:00Z") == [("EUR", "1.00")]  # at or before: inclusive
    assert posted_at(ledger, CASH, "2026-01-14T21:59:59Z") == [("EUR", "1.00")]
    assert posted_at(ledger, CASH, "2026-01-14T22:00:00Z") == [("EUR", "5.00")]
    assert posted_at(ledger, CASH, "2026-01-19T00:00:00Z") == [("EUR", "5.00")]
    assert posted_at(ledger, OWNER, "2026-01-19T00:00:00Z") == [("EUR", "-5.00")]
    assert posted_at(ledger, CASH, "2026-02-01T00:00:00Z") == [("EUR", "7.00")]
    # Without `at` the answer is the current one, as before.
    assert ledger.balance(CASH, "EUR") == {"currency": "EUR", "posted": "7.00", "pending": "7.00",
                                           "available": "7.00"}
    body = ledger.get(f"/accounts/{CASH}/balances?at=2026-01-15T00:00:00%2B02:00")
    assert body["at"] == "2026-01-14T22:00:00+00:00" and body["type"] == "asset"
    check(ledger.store)


def pending_at(ledger: LedgerService, account: str, at: str) -> list[dict[str, str]]:
    body: list[dict[str, str]] = ledger.get(f"/accounts/{account}/balances?at={at}")["balances"]
    return body


def test_a_hold_is_pending_until_its_post_takes_effect(ledger: LedgerService) -> None:
    legs = (("assets:clearing", "debit", "40.00", "EUR"), ("merchant:m1", "credit", "40.00", "EUR"))
    ledger.transfer("hold", *legs, pending=True, effectiveAt="2026-03-02T00:00:00Z")
    post = {"transactionId": "hold", "action": "post", "effectiveAt": "2026-03-05T00:00:00Z"}
    assert ledger.send("ledger.transaction-requested", post).status_code == 200
    assert pending_at(ledger, "merchant:m1", "2026-03-01T23:00:00Z") == []
    assert pending_at(ledger, "merchant:m1", "2026-03-03T00:00:00Z") == [
        {"currency": "EUR", "posted": "0.00", "pending": "-40.00", "available": "0.00"}]
    assert pending_at(ledger, "merchant:m1", "2026-03-05T00:00:00Z") == [
        {"currency": "EUR", "posted": "-40.00", "pending": "-40.00", "available": "-40.00"}]
    # The asset side: a debit-normal account's available balance is not raised by a pending debit.
    assert pending_at(ledger, "assets:clearing", "2026-03-03T00:00:00Z") == [
        {"currency": "EUR", "posted": "0.00", "pending": "40.00", "available": "0.00"}]
    check(ledger.store)


def test_a_void_never_takes_effect_before_its_hold(ledger: LedgerService) -> None:
    legs = (("assets:clearing", "debit", "9.00", "EUR"), ("merchant:m1", "credit", "9.00", "EUR"))
    ledger.transfer("hold", *legs, pending=True, effectiveAt="2026-03-02T00:00:00Z")
    void = {"transactionId": "hold", "action": "void", "effectiveAt": "2026-03-01T00:00:00Z"}
    assert ledger.send("ledger.transaction-requested", void).status_code == 200
    zero = [{"currency": "EUR", "posted": "0.00", "pending": "0.00", "available": "0.00"}]
    assert pending_at(ledger, "merchant:m1", "2026-03-01T12:00:00Z") == []
    assert pending_at(ledger, "merchant:m1", "2026-03-02T00:00:00Z") == zero
    assert ledger.balance("merchant:m1", "EUR") == zero[0]
    check(ledger.store)


def test_a_payment_counts_from_when_it_was_processed(ledger: LedgerService) -> None:
    data = {"paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1", "amount": "100.00",
            "currency": "EUR", "fee": {"amount": "3.00", "currency": "EUR"},
            "net": {"amount": "97.00", "currency": "EUR"}, "gateway": "simulated", "gatewayReference": "sim_1",
            "processedAt": "2026-04-01T10:00:00Z"}
    assert ledger.send("payments.payment-processed", data).status_code == 200
    assert posted_at(ledger, "merchant:mer_1", "2026-04-01T09:59:59Z") == []
    assert posted_at(ledger, "merchant:mer_1", "2026-04-01T10:00:00Z") == [("EUR", "-97.00")]


def test_entries_filter_on_effective_time_and_reconcile_with_balances(ledger: LedgerService) -> None:
    for number, (amount, day) in enumerate([("1.00", 10), ("2.00", 20), ("4.00", 15), ("8.00", 25)]):
        fund(ledger, f"t{number}", amount, f"2026-01-{day}T00:00:00Z")
    window = ledger.get(f"/accounts/{CASH}/entries?from=2026-01-10T00:00:00Z&to=2026-01-20T00:00:00Z")
    # After `from`, at or before `to`; in recorded order, each with its effective time.
    assert [(entry["amount"], entry["effectiveAt"]) for entry in window["entries"]] == [
        ("2.00", "2026-01-20T00:00:00+00:00"), ("4.00", "2026-01-15T00:00:00+00:00")]
    opening = posted_at(ledger, CASH, "2026-01-10T00:00:00Z")
    closing = posted_at(ledger, CASH, "2026-01-20T00:00:00Z")
    assert opening == [("EUR", "1.00")] and closing == [("EUR", "7.00")]  # 1.00 + 2.00 + 4.00
    since = ledger.get(f"/accounts/{CASH}/entries?from=2026-01-20T00:00:00Z")["entries"]
    assert [entry["amount"] for entry in since] == ["8.00"]
    until = ledger.get(f"/accounts/{CASH}/entries?to=2026-01-15T00:00:00Z&limit=1")
    assert [entry["amount"] for entry in until["entries"]] == ["1.00"]
    rest = ledger.get(f"/accounts/{CASH}/entries?to=2026-01-15T00:00:00Z&limit=1&cursor={until['nextCursor']}")
    assert [entry["amount"] for entry in rest["entries"]] == ["4.00"] and "nextCursor" not in rest


def test_bad_times_are_400_naming_the_parameter(ledger: LedgerService) -> None:
    fund(ledger, "t1", "1.00")
    assert ledger.get(f"/accounts/{CASH}/balances?at=yesterday", 400)["field"] == "at"
    assert ledger.get(f"/accounts/{CASH}/balances?at=2026-01-01T00:00:00", 400)["rule"] == "timezone"
    assert ledger.get(f"/accounts/{CASH}/entries?from=2026-13-01T00:00:00Z", 400)["field"] == "from"
    assert ledger.get(f"/accounts/{CASH}/entries?to=9999-01-01T00:00:00Z", 400)["field"] == "to"
    reversed_ = ledger.get(f"/accounts/{CASH}/entries?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400)
    assert (reversed_["field"], reversed_["rule"]) == ("from", "before_to")
    ledger.get("/accounts/nobody/balances?at=2026-01-01T00:00:00Z", 404)
