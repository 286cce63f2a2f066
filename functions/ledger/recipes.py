"""Fixed posting recipes for payment outcomes. Changing one changes the books: version it.

payment-processed (amount A, fee F, net N = A - F, all in the payment's currency):
    debit  assets:gateway_clearing:<gateway>   A   money the gateway will settle to us
    credit merchant:<merchantId>               N   what we owe the merchant
    credit revenue:fees                        F   our fee (leg omitted when F is zero)

refund-processed (amount R):
    debit  merchant:<merchantId>               R   the merchant bears the refund
    credit assets:gateway_clearing:<gateway>   R   the gateway pays it back out
The fee is not returned on a refund (as with most acquirers).
"""

from __future__ import annotations

from functions.ledger.double_entry import Leg
from shared.errors import invalid_data
from shared.events import PaymentProcessed, RefundProcessed

FEE_REVENUE = "revenue:fees"


def clearing_account(gateway: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in gateway.lower()) or "unknown"
    return f"assets:gateway_clearing:{safe}"


def payment_transaction_id(payment_id: str) -> str:
    return f"payment:{payment_id}"


def refund_transaction_id(refund_id: str) -> str:
    return f"refund:{refund_id}"


def payment_legs(event: PaymentProcessed) -> list[Leg]:
    amount, fee, net = event.money, event.fee.money, event.net.money
    if fee.currency != amount.currency or net.currency != amount.currency:
        raise invalid_data("fee", "same_currency", "fee and net must be in the payment's currency")
    if fee.minor < 0 or net.minor < 0:
        raise invalid_data("fee", "non_negative", "fee and net must not be negative")
    if fee.minor + net.minor != amount.minor:
        raise invalid_data("net", "amount_minus_fee", f"net {net} plus fee {fee} must equal the amount {amount}")
    legs = [Leg(clearing_account(event.gateway), amount.currency, "debit", amount.minor)]
    if net.minor:
        legs.append(Leg(f"merchant:{event.merchant_id}", amount.currency, "credit", net.minor))
    if fee.minor:
        legs.append(Leg(FEE_REVENUE, amount.currency, "credit", fee.minor))
    return legs


def refund_legs(event: RefundProcessed) -> list[Leg]:
    amount = event.money
    return [Leg(f"merchant:{event.merchant_id}", amount.currency, "debit", amount.minor),
            Leg(clearing_account(event.gateway), amount.currency, "credit", amount.minor)]
