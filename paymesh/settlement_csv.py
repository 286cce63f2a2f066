"""A Stripe payout reconciliation export (itemized CSV, Stripe's documented column names) -> the data of a
ledger.settlement-reported event.

Columns read: balance_transaction_id, created_utc, currency, gross, fee, net (decimal major units, as the
export writes them), reporting_category, payment_intent_id / charge_id / source_id (the first one present is the
gateway reference) and automatic_payout_id (the batch). Other columns are ignored. Only `charge` lines are
settlement lines; the others (refunds, disputes, fees, the payout itself) are counted and left out, since the
ledger reconciles captured payments.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

REFERENCE_COLUMNS = ("payment_intent_id", "charge_id", "source_id")
REQUIRED_COLUMNS = ("currency", "gross", "fee", "net", "reporting_category")


class ReportError(ValueError):
    """The file cannot be turned into a settlement report; the message says which line and column."""


@dataclass
class Conversion:
    data: dict[str, Any]
    skipped: dict[str, int] = field(default_factory=dict)


def _created(text: str, line_number: int) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"line {line_number}: created_utc {text!r} is not a date and time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def convert(text: str, *, gateway: str = "stripe", batch_id: str | None = None,
            settled_through: datetime | None = None) -> Conversion:
    """The event data; `batch_id` defaults to the file's one automatic_payout_id, `settled_through` to the
    latest created_utc of its charges."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = set(reader.fieldnames or ())
    absent = [name for name in REQUIRED_COLUMNS if name not in columns]
    if absent or not columns & set(REFERENCE_COLUMNS):
        wanted = ", ".join(absent or ["one of " + "/".join(REFERENCE_COLUMNS)])
        raise ReportError(f"not a Stripe itemized reconciliation export: missing column(s) {wanted}")
    lines: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    currencies: set[str] = set()
    payouts: set[str] = set()
    latest: datetime | None = None
    for number, row in enumerate(reader, start=2):
        category = (row.get("reporting_category") or "").strip()
        if category != "charge":
            skipped[category or "(none)"] = skipped.get(category or "(none)", 0) + 1
            continue
        reference = next((row[name].strip() for name in REFERENCE_COLUMNS if (row.get(name) or "").strip()), "")
        if not reference:
            raise ReportError(f"line {number}: no payment_intent_id, charge_id or source_id")
        currencies.add((row.get("currency") or "").strip().upper())
        if (row.get("automatic_payout_id") or "").strip():
            payouts.add(row["automatic_payout_id"].strip())
        created = _created((row.get("created_utc") or "").strip(), number)
        latest = max(latest, created) if latest and created else (created or latest)
        line = {"gatewayReference": reference, "gross": row["gross"].strip(), "fee": row["fee"].strip(),
                "net": row["net"].strip(), "category": category}
        if (row.get("balance_transaction_id") or "").strip():
            line["balanceTransactionId"] = row["balance_transaction_id"].strip()
        lines.append(line)
    if not lines:
        raise ReportError("the file has no charge lines to reconcile")
    if len(currencies) != 1:
        raise ReportError(f"one currency per settlement report, found {', '.join(sorted(currencies))}")
    if batch_id is None:
        if len(payouts) != 1:
            raise ReportError("name the batch with --batch-id: the file has "
                              f"{len(payouts) or 'no'} automatic_payout_id value(s)")
        batch_id = payouts.pop()
    data: dict[str, Any] = {"gateway": gateway, "batchId": batch_id, "currency": currencies.pop(), "lines": lines}
    through = settled_through or latest
    if through is not None:
        data["settledThrough"] = through.isoformat().replace("+00:00", "Z")
    return Conversion(data, skipped)
