"""Reconciling a Stripe payout export with the payments booked in the gateway's clearing account: a matched line
moves to the bank (its fee to expenses:gateway_fees), mismatched, extra and missing lines raise
reconciliation-mismatch alerts and are listed; the batch is reconciled once; the trial balance stays zero."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from paymesh.cli import app as cli
from paymesh.settlement_csv import ReportError, convert
from tests.ledger import invariants
from tests.ledger.conftest import LedgerService

CSV = (Path(__file__).parent / "data" / "stripe_payout_reconciliation.csv").read_text()
BATCH = "po_1QaZ9xLkdIwHu7ix0recon01"
PI = {name: f"pi_3QaA{code}LkdIwHu7ix1{letter * 7}" for name, code, letter in
      (("A", "1b", "a"), ("B", "2c", "b"), ("C", "3d", "c"), ("D", "4e", "d"), ("X", "9z", "z"))}
CLEARING, BANK, FEES = "assets:gateway_clearing:stripe", "assets:bank:stripe", "expenses:gateway_fees"


def book(ledger: LedgerService, payment_id: str, reference: str, amount: str, fee: str, at: str) -> None:
    net = str(Decimal(amount) - Decimal(fee))
    data = {"paymentId": payment_id, "customerId": "cus_1", "merchantId": "mer_1", "amount": amount, "currency": "EUR",
            "fee": {"amount": fee, "currency": "EUR"}, "net": {"amount": net, "currency": "EUR"},
            "gateway": "stripe", "gatewayReference": reference, "processedAt": at}
    assert ledger.send("payments.payment-processed", data).status_code == 200


@pytest.fixture
def booked(ledger: LedgerService) -> LedgerService:
    book(ledger, "pay_a", PI["A"], "100.00", "3.15", "2026-11-20T10:00:00Z")
    book(ledger, "pay_b", PI["B"], "50.00", "1.70", "2026-11-20T11:00:00Z")
    book(ledger, "pay_c", PI["C"], "20.00", "0.83", "2026-11-20T12:00:00Z")  # due in the batch, not in it
    book(ledger, "pay_d", PI["D"], "30.00", "1.12", "2026-11-25T12:00:00Z")  # captured after the batch's cut-off
    ledger.publisher.events.clear()
    return ledger


def report() -> dict[str, Any]:
    return convert(CSV).data


def alerts(ledger: LedgerService, batch: str = BATCH) -> dict[str, str]:
    found = {}
    for event in ledger.publisher.of_type("audit.compliance-alerts"):
        data = event.data or {}
        assert data["ruleId"] == "reconciliation-mismatch" and data["subject"] == f"stripe:{batch}"
        reference = next(ref for ref in PI.values() if ref in data["message"])
        found[reference] = data["message"].split(": ")[1]
    return found


def test_the_export_becomes_a_settlement_report_of_its_charges() -> None:
    conversion = convert(CSV)
    assert conversion.skipped == {"payout": 1, "refund": 1}
    assert conversion.data["batchId"] == BATCH and conversion.data["currency"] == "EUR"
    assert conversion.data["settledThrough"] == "2026-11-21T09:00:00Z"
    assert conversion.data["lines"][0] == {"gatewayReference": PI["A"], "gross": "100.00", "fee": "3.20",
                                           "net": "96.80", "category": "charge",
                                           "balanceTransactionId": "txn_3QaA1bLkdIwHu7ix1aaaaaaa"}
    assert [line["gatewayReference"] for line in conversion.data["lines"]] == [PI["A"], PI["B"], PI["X"]]


@pytest.mark.parametrize(("text", "message"), [
    ("a,b\n1,2\n", "missing column"),
    (CSV.replace(",charge,", ",refund,"), "no charge lines"),
    (CSV.replace(",eur,49.00", ",usd,49.00"), "one currency"),
    (CSV.replace("2026-11-20 10:00:02,2026", "yesterday,2026"), "created_utc"),
])
def test_files_that_are_not_a_settlement_report_are_refused(text: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        convert(text)


def test_matched_lines_move_to_the_bank_and_the_rest_raise_alerts(booked: LedgerService) -> None:
    assert booked.send("ledger.settlement-reported", report()).status_code == 200
    assert booked.balance(CLEARING, "EUR")["posted"] == "100.00"  # 200.00 booked, 100.00 settled
    assert booked.balance(BANK, "EUR")["posted"] == "96.80"
    assert booked.balance(FEES, "EUR")["posted"] == "3.20"
    assert alerts(booked) == {PI["B"]: "amount_mismatch", PI["X"]: "unmatched", PI["C"]: "missing"}
    body = booked.get(f"/reconciliations/{BATCH}")
    assert (body["status"], body["linesReported"], body["linesMatched"], body["problems"]) == ("mismatched", 3, 1, 3)
    assert body["transactionId"] == f"settlement:stripe:{BATCH}"
    assert [(line["gatewayReference"], line["status"], line["gross"], line["booked"]) for line in body["lines"]] == [
        (PI["A"], "matched", "100.00", "100.00"), (PI["B"], "amount_mismatch", "49.00", "50.00"),
        (PI["X"], "unmatched", "10.00", None), (PI["C"], "missing", None, "20.00")]
    assert booked.get("/trial-balance")["balanced"]
    invariants.check(booked.store)


def test_a_batch_is_reconciled_once(booked: LedgerService) -> None:
    booked.send("ledger.settlement-reported", report())
    before = invariants.balances(booked.store)
    booked.publisher.events.clear()
    assert booked.send("ledger.settlement-reported", report()).status_code == 204
    assert booked.publisher.events == [] and invariants.balances(booked.store) == before
    changed = report()
    changed["lines"] = changed["lines"][:1]
    response = booked.send("ledger.settlement-reported", changed)
    assert response.status_code == 422 and response.get_json()["field"] == "data.batchId"


def test_a_later_batch_settles_what_is_left_and_never_settles_twice(booked: LedgerService) -> None:
    booked.send("ledger.settlement-reported", report())
    booked.publisher.events.clear()
    later = {"gateway": "stripe", "batchId": "po_next", "currency": "EUR", "settledThrough": "2026-11-26T00:00:00Z",
             "lines": [{"gatewayReference": PI["A"], "gross": "100.00", "fee": "3.20", "net": "96.80"},
                       {"gatewayReference": PI["B"], "gross": "50.00", "fee": "1.75", "net": "48.25"},
                       {"gatewayReference": PI["C"], "gross": "20.00", "fee": "0.83", "net": "19.17"},
                       {"gatewayReference": PI["D"], "gross": "30.00", "fee": "1.12", "net": "28.88"}]}
    assert booked.send("ledger.settlement-reported", later).status_code == 200
    assert booked.balance(CLEARING, "EUR")["posted"] == "0.00"
    assert booked.balance(BANK, "EUR")["posted"] == "193.10"  # 96.80 earlier, then 48.25 + 19.17 + 28.88
    assert alerts(booked, "po_next") == {PI["A"]: "already_settled"}
    assert booked.get("/trial-balance")["balanced"]


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"net": "96.00"}, "data.lines.0.net", "gross_minus_fee"),
    ({"gross": "100.001"}, "data.lines.0.gross", "decimal_places"),
    ({"gross": "-100.00", "net": "-103.20"}, "data.lines.0.gross", "positive"),
    ({"fee": "101.00", "net": "-1.00"}, "data.lines.0.fee", "range"),
])
def test_a_line_that_cannot_be_settled_is_a_422_naming_it(booked: LedgerService, change: dict[str, str],
                                                           field: str, rule: str) -> None:
    data = report()
    data["lines"][0].update(change)
    response = booked.send("ledger.settlement-reported", data)
    assert response.status_code == 422
    assert (response.get_json()["field"], response.get_json()["rule"]) == (field, rule)
    assert booked.get(f"/reconciliations/{BATCH}", status=404)
    assert booked.publisher.events == []


def test_a_reference_twice_in_one_report_is_refused(booked: LedgerService) -> None:
    data = report()
    data["lines"].append(dict(data["lines"][0]))
    response = booked.send("ledger.settlement-reported", data)
    assert (response.status_code, response.get_json()["field"]) == (422, "data.lines.3.gatewayReference")


def test_the_route_refuses_a_bad_gateway_parameter(booked: LedgerService) -> None:
    booked.send("ledger.settlement-reported", report())
    assert booked.get(f"/reconciliations/{BATCH}?gateway=stripe")["batchId"] == BATCH
    assert booked.get(f"/reconciliations/{BATCH}?gateway=adyen", status=404)
    assert booked.get(f"/reconciliations/{BATCH}?gateway={'x' * 65}", status=400)["field"] == "gateway"


def test_the_cli_prints_the_event_it_would_send(tmp_path: Path) -> None:
    export = tmp_path / "payout.csv"
    export.write_text(CSV)
    result = CliRunner().invoke(cli, ["ledger", "reconcile", str(export), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f'"batchId": "{BATCH}"' in result.output and "skipped: 1 payout, 1 refund" in result.output
    refused = CliRunner().invoke(cli, ["ledger", "reconcile", str(export), "--dry-run", "--through", "2026-11-21"])
    assert refused.exit_code == 2 and "timezone" in refused.output


@pytest.mark.broker
def test_the_cli_sends_the_report_to_its_topic(broker: Any, tmp_path: Path) -> None:
    from paymesh.local.watch import TopicReader

    export = tmp_path / "payout.csv"
    export.write_text(CSV)
    reader = TopicReader(broker.bootstrap, ["ledger.settlement-reported"])
    try:
        result = CliRunner().invoke(cli, ["ledger", "reconcile", str(export), "--bootstrap", broker.bootstrap])
        assert result.exit_code == 0, result.output
        [record] = reader.read_until(bool, timeout=20)
    finally:
        reader.close()
    assert record.attributes["type"] == "ledger.settlement-reported"
    assert record.attributes["subject"] == BATCH and record.data == convert(CSV).data
