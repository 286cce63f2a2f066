"""The ledger through its HTTP path: transactions, flags, two-phase transfers, recipes and queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from functions.ledger.accounts import AccountDefinition
from functions.ledger.app import build_spec
from functions.ledger.settings import LedgerSettings
from shared.publish import MemoryPublisher
from tests.ledger.conftest import LedgerService
from tests.support import build_app, flask_client, post_event, reply_json, temporary_store

BALANCE = "ledger.balance-updated"
AUDIT = "audit.ledger-events"


def audits(ledger: LedgerService) -> list[dict[str, Any]]:
    return [event.data for event in ledger.publisher.of_type(AUDIT) if event.data is not None]


def test_balanced_transaction_moves_money_and_answers_balance_updated(ledger: LedgerService) -> None:
    response = ledger.transfer("t1", ("assets:cash", "debit", "100.00", "EUR"), ("equity:owner", "credit", "100.00", "EUR"))
    assert response.status_code == 200
    assert response.headers["ce-type"] == BALANCE
    assert reply_json(response)["account"] == "assets:cash"
    assert ledger.balance("assets:cash", "EUR") == {"currency": "EUR", "posted": "100.00", "pending": "100.00",
                                                    "available": "100.00"}
    assert ledger.balance("equity:owner", "EUR")["posted"] == "-100.00"
    updates = {event.data["account"]: event.data["posted"] for event in ledger.publisher.of_type(BALANCE)
               if event.data is not None}
    assert updates == {"assets:cash": "100.00", "equity:owner": "-100.00"}
    [audit] = audits(ledger)
    assert audit["action"] == "transaction.posted" and audit["subject"] == "t1"


def test_unbalanced_transaction_is_400_and_writes_nothing(ledger: LedgerService) -> None:
    response = ledger.transfer("t1", ("assets:cash", "debit", "100.00", "EUR"), ("equity:owner", "credit", "99.99", "EUR"))
    assert response.status_code == 400
    body = reply_json(response)
    assert body["field"] == "data.postings" and body["rule"] == "balanced_per_currency"
    assert ledger.get("/accounts/assets:cash/balances", 404)["error"] == "not_found"
    assert ledger.publisher.events == []


def test_balance_is_per_currency(ledger: LedgerService) -> None:
    response = ledger.transfer("fx", ("assets:cash", "debit", "10.00", "EUR"), ("equity:owner", "credit", "10.00", "USD"))
    assert response.status_code == 400
    assert "EUR debits exceed credits by 10.00" in reply_json(response)["message"]
    ok = ledger.transfer("two", ("assets:cash", "debit", "10.00", "EUR"), ("equity:owner", "credit", "10.00", "EUR"),
                         ("assets:cash", "debit", "500", "JPY"), ("equity:owner", "credit", "500", "JPY"))
    assert ok.status_code == 200
    currencies = [item["currency"] for item in ledger.get("/accounts/assets:cash/balances")["balances"]]
    assert currencies == ["EUR", "JPY"]


def test_flag_violation_is_a_business_rejection_with_no_effect(ledger: LedgerService) -> None:
    ledger.transfer("fund", ("assets:cash", "debit", "30.00", "EUR"), ("customer:c1", "credit", "30.00", "EUR"))
    response = ledger.transfer("spend", ("customer:c1", "debit", "30.01", "EUR"),
                               ("merchant:m1", "credit", "30.01", "EUR"))
    assert response.status_code == 200
    assert response.headers["ce-type"] == AUDIT
    rejection = reply_json(response)
    assert rejection["action"] == "transaction.rejected" and rejection["outcome"] == "rejected"
    assert rejection["details"]["reason"] == "debits_must_not_exceed_credits"
    assert ledger.balance("customer:c1", "EUR")["posted"] == "-30.00"
    ledger.get("/accounts/merchant:m1/balances", 404)  # not even created
    ledger.get("/transactions/spend", 404)
    assert ledger.get("/trial-balance")["balanced"]


def test_two_phase_transfer_post_and_void(ledger: LedgerService) -> None:
    ledger.transfer("fund", ("assets:cash", "debit", "50.00", "EUR"), ("customer:c1", "credit", "50.00", "EUR"))
    hold = ledger.transfer("hold", ("customer:c1", "debit", "40.00", "EUR"), ("merchant:m1", "credit", "40.00", "EUR"),
                           pending=True)
    assert hold.status_code == 200
    # The wallet is credit-normal: the held 40.00 is no longer available to spend.
    assert ledger.balance("customer:c1", "EUR") == {"currency": "EUR", "posted": "-50.00", "pending": "-10.00",
                                                    "available": "-10.00"}
    # The hold counts against the flag: 40 held + 20 more would exceed the 50 funded.
    over = ledger.transfer("more", ("customer:c1", "debit", "20.00", "EUR"), ("merchant:m1", "credit", "20.00", "EUR"))
    assert reply_json(over)["action"] == "transaction.rejected"
    assert ledger.send("ledger.transaction-requested", {"transactionId": "hold", "action": "post"}).status_code == 200
    assert ledger.balance("customer:c1", "EUR")["posted"] == "-10.00"
    assert ledger.get("/transactions/hold")["status"] == "posted"
    again = ledger.send("ledger.transaction-requested", {"transactionId": "hold", "action": "void"})
    assert reply_json(again)["details"]["reason"] == "already_posted"

    ledger.transfer("hold2", ("customer:c1", "debit", "5.00", "EUR"), ("merchant:m1", "credit", "5.00", "EUR"),
                    pending=True)
    assert ledger.send("ledger.transaction-requested", {"transactionId": "hold2", "action": "void"}).status_code == 200
    assert ledger.balance("customer:c1", "EUR") == {"currency": "EUR", "posted": "-10.00", "pending": "-10.00",
                                                    "available": "-10.00"}
    assert ledger.get("/transactions/hold2")["status"] == "voided"


def test_posting_an_unknown_transaction_is_422(ledger: LedgerService) -> None:
    response = ledger.send("ledger.transaction-requested", {"transactionId": "nope", "action": "post"})
    assert response.status_code == 422
    assert reply_json(response)["field"] == "data.transactionId"


def test_transaction_id_is_an_idempotency_key(ledger: LedgerService) -> None:
    legs = (("assets:cash", "debit", "1.00", "EUR"), ("equity:owner", "credit", "1.00", "EUR"))
    assert ledger.transfer("t1", *legs).status_code == 200
    assert ledger.transfer("t1", *legs).status_code == 204  # a new event, same transaction: no effect
    different = ledger.transfer("t1", ("assets:cash", "debit", "2.00", "EUR"), ("equity:owner", "credit", "2.00", "EUR"))
    assert different.status_code == 422 and reply_json(different)["rule"] == "unique"
    assert ledger.balance("assets:cash", "EUR")["posted"] == "1.00"


def test_redelivered_event_changes_nothing_and_gets_the_same_reply(ledger: LedgerService) -> None:
    data = {"transactionId": "t1", "postings": [
        {"account": "assets:cash", "direction": "debit", "amount": "7.00", "currency": "EUR"},
        {"account": "equity:owner", "direction": "credit", "amount": "7.00", "currency": "EUR"}]}
    first = ledger.send("ledger.transaction-requested", data, event_id="e1")
    for _ in range(2):
        again = ledger.send("ledger.transaction-requested", data, event_id="e1")
        assert again.data == first.data and again.headers["ce-id"] == first.headers["ce-id"]
    assert ledger.balance("assets:cash", "EUR")["posted"] == "7.00"
    assert len(ledger.get("/accounts/assets:cash/entries")["entries"]) == 1


def payment_processed(payment_id: str, amount: str, fee: str, net: str, currency: str = "EUR") -> dict[str, Any]:
    return {"paymentId": payment_id, "customerId": "cus_1", "merchantId": "mer_1", "amount": amount,
            "currency": currency, "fee": {"amount": fee, "currency": currency},
            "net": {"amount": net, "currency": currency}, "gateway": "simulated", "gatewayReference": "sim_1"}


def test_payment_processed_recipe(ledger: LedgerService) -> None:
    response = ledger.send("payments.payment-processed", payment_processed("pay_1", "100.00", "3.20", "96.80"))
    assert response.status_code == 200
    assert ledger.balance("assets:gateway_clearing:simulated", "EUR")["posted"] == "100.00"
    assert ledger.balance("merchant:mer_1", "EUR")["posted"] == "-96.80"
    assert ledger.balance("revenue:fees", "EUR")["posted"] == "-3.20"
    transaction = ledger.get("/transactions/payment:pay_1")
    assert transaction["metadata"]["paymentId"] == "pay_1"
    refund = {"refundId": "re_1", "paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1",
              "amount": "40.00", "currency": "EUR", "refundedTotal": "40.00", "gateway": "simulated",
              "gatewayReference": "sim_re_1"}
    assert ledger.send("payments.refund-processed", refund).status_code == 200
    assert ledger.balance("merchant:mer_1", "EUR")["posted"] == "-56.80"
    assert ledger.balance("assets:gateway_clearing:simulated", "EUR")["posted"] == "60.00"
    assert ledger.get("/trial-balance") == {"balanced": True, "currencies": [{
        "currency": "EUR", "debits": "140.00", "credits": "140.00", "net": "0.00",
        "pendingDebits": "0.00", "pendingCredits": "0.00"}]}


def test_payment_processed_whose_fee_does_not_add_up_is_422(ledger: LedgerService) -> None:
    response = ledger.send("payments.payment-processed", payment_processed("pay_1", "100.00", "3.20", "96.00"))
    assert response.status_code == 422
    assert reply_json(response)["field"] == "data.net"


def test_statement_pages_with_running_balance(ledger: LedgerService) -> None:
    for n in range(5):
        ledger.transfer(f"t{n}", ("assets:cash", "debit", f"{n + 1}.00", "EUR"),
                        ("equity:owner", "credit", f"{n + 1}.00", "EUR"))
    first = ledger.get("/accounts/assets:cash/entries?limit=2")
    assert [entry["balance"] for entry in first["entries"]] == ["1.00", "3.00"]
    second = ledger.get(f"/accounts/assets:cash/entries?limit=2&cursor={first['nextCursor']}")
    assert [entry["amount"] for entry in second["entries"]] == ["3.00", "4.00"]
    last = ledger.get(f"/accounts/assets:cash/entries?limit=2&cursor={second['nextCursor']}")
    assert [entry["balance"] for entry in last["entries"]] == ["15.00"] and "nextCursor" not in last
    owner = ledger.get("/accounts/equity:owner/entries?limit=10")["entries"]
    assert owner[-1]["balance"] == "-15.00" and owner[0]["amount"] == "-1.00"


def test_bad_query_parameters_are_400(ledger: LedgerService) -> None:
    ledger.transfer("t1", ("assets:cash", "debit", "1.00", "EUR"), ("equity:owner", "credit", "1.00", "EUR"))
    body = ledger.get("/accounts/assets:cash/entries?limit=0", 400)
    assert body["field"] == "limit"
    assert ledger.get("/accounts/assets:cash/entries?cursor=abc", 400)["field"] == "cursor"
    ledger.get("/accounts/nobody/entries", 404)
    ledger.get("/transactions/none", 404)


def test_metrics_show_entries_and_balances_by_type(ledger: LedgerService) -> None:
    ledger.transfer("t1", ("assets:cash", "debit", "12.50", "EUR"), ("equity:owner", "credit", "12.50", "EUR"))
    text = ledger.client.get("/metrics").data.decode()
    assert 'ledger_balance_total{account_type="asset",currency="EUR"} 12.5' in text
    assert 'ledger_balance_total{account_type="equity",currency="EUR"} -12.5' in text
    assert 'ledger_entries_total{currency="EUR"}' in text


def test_declared_accounts_exist_before_use_and_their_flags_win_over_rules(backend: str, tmp_path: Path) -> None:
    settings = LedgerSettings(ledger_accounts=(AccountDefinition(
        name="assets:escrow", type="asset", credits_must_not_exceed_debits=True, metadata={"owner": "ops"}),))
    spec = build_spec(settings)
    with temporary_store(backend, "ledger", spec.migrations, tmp_path) as store:
        client = flask_client(build_app(spec, store, settings, MemoryPublisher()))
        declared = reply_json(client.get("/accounts/assets:escrow/balances"))
        assert declared == {"account": "assets:escrow", "type": "asset", "flags": ["credits_must_not_exceed_debits"],
                            "metadata": {"owner": "ops"}, "balances": []}
        overdraw = {"transactionId": "t1", "postings": [
            {"account": "equity:owner", "direction": "debit", "amount": "1.00", "currency": "EUR"},
            {"account": "assets:escrow", "direction": "credit", "amount": "1.00", "currency": "EUR"}]}
        assert reply_json(post_event(client, "ledger.transaction-requested", overdraw))["action"] == \
            "transaction.rejected"
        # A second start with another definition leaves the stored account as it is.
        changed = LedgerSettings(ledger_accounts=(AccountDefinition(name="assets:escrow", type="liability"),))
        again = flask_client(build_app(build_spec(changed), store, changed, MemoryPublisher()))
        assert reply_json(again.get("/accounts/assets:escrow/balances"))["type"] == "asset"
