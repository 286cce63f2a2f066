"""Settlement: what a merchant is paid out for a period, and the two-phase transfer that carries it.

settlement-requested (period P), per merchant M and currency C, owed O = the merchant account's available
credit balance (posted, less payouts still pending), reserve R = ceil(O x reserve_bps / 10000):
    debit  merchant:<M>                       O - R   pending until the payout is confirmed
    credit liabilities:payouts_in_transit     O - R
payout-paid posts the transfer; payout-failed voids it and the amount is owed to the merchant again.
One payout per merchant, currency and period: its id is derived from the three.
"""

from __future__ import annotations

import hashlib

from functions.ledger.double_entry import BalanceView, Leg

MERCHANT_PREFIX = "merchant:"
IN_TRANSIT = "liabilities:payouts_in_transit"
PAYOUT_KIND = "payout"
BPS_WHOLE = 10_000
MERCHANT_ID_MAX_CHARS = 128  # shared.events.Identifier: a longer account suffix cannot name a payout's merchant


def merchant_of(account: str) -> str | None:
    """The merchant id of a `merchant:<id>` account, or None when it cannot be one (too long)."""
    merchant_id = account.removeprefix(MERCHANT_PREFIX)
    return merchant_id if 0 < len(merchant_id) <= MERCHANT_ID_MAX_CHARS else None


def payout_id(merchant_id: str, currency: str, period: str) -> str:
    """Stable per (merchant, currency, period), bounded in length whatever the merchant id."""
    digest = hashlib.sha256(f"{merchant_id}\x1f{currency}\x1f{period}".encode()).hexdigest()
    return f"po_{digest[:32]}"


def owed(balance: BalanceView) -> int:
    """What the ledger owes the merchant now: its credit balance, less payouts already pending."""
    return max(-balance.available, 0)


def payout_minor(balance: BalanceView, reserve_bps: int) -> int:
    """The amount to pay out: what is owed less the reserve (the reserve rounds up to a whole minor unit)."""
    due = owed(balance)
    reserve = -(-due * reserve_bps // BPS_WHOLE)
    return due - reserve


def payout_legs(merchant_id: str, currency: str, minor: int) -> list[Leg]:
    return [Leg(f"{MERCHANT_PREFIX}{merchant_id}", currency, "debit", minor),
            Leg(IN_TRANSIT, currency, "credit", minor)]


def payout_metadata(payout: str, merchant_id: str, period: str) -> dict[str, str]:
    return {"kind": PAYOUT_KIND, "payoutId": payout, "merchantId": merchant_id, "period": period}


def is_payout(metadata: dict[str, object]) -> bool:
    return metadata.get("kind") == PAYOUT_KIND
