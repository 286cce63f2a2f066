"""Reconciliation rules, free of SQL: a gateway's settlement report against the payments the ledger booked in
`assets:gateway_clearing:<gateway>`. Changing the recipe changes the books: version it.

Each report line names a charge by its gateway reference (payment-processed's gatewayReference, kept in the
payment transaction's metadata). A line is
- matched: a booked payment of that reference in the report's currency, gross equal to what clearing was debited
  with, not settled by an earlier batch;
- amount_mismatch: booked, but with another amount (or currency);
- already_settled: booked and matched by an earlier batch;
- unmatched: no booked payment has that reference (an extra line).
A booked payment of the gateway and currency, effective at or before the report's settledThrough, that no batch
has settled and this report does not list, is reported as missing.

The matched lines move together in one transaction settlement:<gateway>:<batchId>:
    credit assets:gateway_clearing:<gateway>   sum of gross   the gateway no longer owes it
    debit  assets:bank:<gateway>               sum of net     what it paid into the bank
    debit  expenses:gateway_fees               sum of fee     what it kept (leg omitted when zero)
Every other line changes nothing in the books and raises a reconciliation-mismatch compliance alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from functions.ledger.double_entry import Leg
from functions.ledger.recipes import clearing_account
from shared.errors import invalid_data
from shared.events import SettlementReported
from shared.money import Money, MoneyError

GATEWAY_FEES = "expenses:gateway_fees"
RULE_ID = "reconciliation-mismatch"
Status = Literal["matched", "amount_mismatch", "already_settled", "unmatched", "missing"]
PROBLEMS: tuple[Status, ...] = ("amount_mismatch", "already_settled", "unmatched", "missing")


def bank_account(gateway: str) -> str:
    return clearing_account(gateway).replace("assets:gateway_clearing:", "assets:bank:", 1)


def settlement_transaction_id(gateway: str, batch_id: str) -> str:
    return f"settlement:{gateway}:{batch_id}"


@dataclass(frozen=True, slots=True)
class ReportedLine:
    reference: str
    gross: Money
    fee: Money
    net: Money


@dataclass(frozen=True, slots=True)
class Booked:
    """A payment the ledger booked in the gateway's clearing account."""

    reference: str
    transaction_id: str
    amount: Money
    effective_at: datetime
    settled_by: str | None  # the batch that settled it, if any


@dataclass(frozen=True, slots=True)
class LineResult:
    reference: str
    status: Status
    reported: ReportedLine | None = None
    booked: Booked | None = None


def reported_lines(event: SettlementReported) -> list[ReportedLine]:
    """The report's lines as exact money; a 422 naming the line's field when one cannot be settled as sent."""
    lines: list[ReportedLine] = []
    seen: set[str] = set()
    for index, line in enumerate(event.lines):
        where = f"lines.{index}"
        amounts: dict[str, Money] = {}
        for name in ("gross", "fee", "net"):
            try:
                amounts[name] = Money.parse(getattr(line, name), event.currency)
            except MoneyError as error:
                raise invalid_data(f"{where}.{name}", error.rule, str(error)) from None
        gross, fee, net = amounts["gross"], amounts["fee"], amounts["net"]
        if gross.minor <= 0:
            raise invalid_data(f"{where}.gross", "positive", "only settled charges (gross above zero) are reconciled")
        if fee.minor < 0 or fee.minor > gross.minor:
            raise invalid_data(f"{where}.fee", "range", "the fee must be between zero and the gross amount")
        if gross.minor - fee.minor != net.minor:
            raise invalid_data(f"{where}.net", "gross_minus_fee", f"net {net} must equal gross {gross} less fee {fee}")
        if line.gateway_reference in seen:
            raise invalid_data(f"{where}.gatewayReference", "unique", "a reference appears twice in the report")
        seen.add(line.gateway_reference)
        lines.append(ReportedLine(line.gateway_reference, gross, fee, net))
    return lines


def match(lines: list[ReportedLine], booked: dict[str, Booked], outstanding: list[Booked]) -> list[LineResult]:
    """Every line's result, then the missing payments (`outstanding`: unsettled, due by settledThrough)."""
    results: list[LineResult] = []
    for line in lines:
        found = booked.get(line.reference)
        if found is None:
            results.append(LineResult(line.reference, "unmatched", line))
        elif found.settled_by is not None:
            results.append(LineResult(line.reference, "already_settled", line, found))
        elif found.amount != line.gross:
            results.append(LineResult(line.reference, "amount_mismatch", line, found))
        else:
            results.append(LineResult(line.reference, "matched", line, found))
    listed = {line.reference for line in lines}
    results += [LineResult(item.reference, "missing", booked=item)
                for item in outstanding if item.reference not in listed]
    return results


def settlement_legs(gateway: str, currency: str, results: list[LineResult]) -> list[Leg]:
    """The legs moving the matched lines out of clearing; empty when nothing matched."""
    matched = [result.reported for result in results if result.status == "matched" and result.reported]
    gross = sum(line.gross.minor for line in matched)
    if not gross:
        return []
    fee = sum(line.fee.minor for line in matched)
    legs = [Leg(clearing_account(gateway), currency, "credit", gross),
            Leg(bank_account(gateway), currency, "debit", gross - fee),
            Leg(GATEWAY_FEES, currency, "debit", fee)]
    return [leg for leg in legs if leg.minor]
