"""Posting recipes for disputes (chargebacks). Changing one changes the books: version it.

dispute-opened (disputed amount D): a pending (two-phase) transfer dispute:<disputeId>
    debit  merchant:<merchantId>                D   held from what we owe the merchant
    credit liabilities:disputes                 D   owed to the cardholder if the dispute is lost

dispute-closed, won: the pending transfer dispute:<disputeId> is voided (the hold is released).

The two events travel on different topics, which Kafka does not order between them: a dispute-closed that finds
no hold books it first (from its own amount and merchant) and then resolves it; the late dispute-opened then finds
the same transaction and changes nothing.

dispute-closed, lost (chargeback fee F): dispute:<disputeId> is posted, then chargeback:<disputeId>
    debit  liabilities:disputes                 D   the gateway returned D to the cardholder
    credit assets:gateway_clearing:<gateway>    D   out of what it owes us
    debit  merchant:<merchantId>                F   the merchant bears the chargeback fee
    credit assets:gateway_clearing:<gateway>    F   the gateway withholds it (legs omitted when F is zero)
"""

from __future__ import annotations

from functions.ledger.double_entry import Leg
from functions.ledger.recipes import clearing_account
from shared.errors import invalid_data
from shared.events import DisputeClosed, DisputeOpened

DISPUTES_LIABILITY = "liabilities:disputes"


def dispute_transaction_id(dispute_id: str) -> str:
    return f"dispute:{dispute_id}"


def chargeback_transaction_id(dispute_id: str) -> str:
    return f"chargeback:{dispute_id}"


def hold_legs(event: DisputeOpened | DisputeClosed) -> list[Leg]:
    """The hold; dispute-closed carries what it needs too, for when it overtakes its dispute-opened."""
    amount = event.money
    return [Leg(f"merchant:{event.merchant_id}", amount.currency, "debit", amount.minor),
            Leg(DISPUTES_LIABILITY, amount.currency, "credit", amount.minor)]


def chargeback_legs(event: DisputeClosed) -> list[Leg]:
    amount, fee = event.money, event.fee.money
    if fee.currency != amount.currency:
        raise invalid_data("fee", "same_currency", "the chargeback fee must be in the dispute's currency")
    if fee.minor < 0:
        raise invalid_data("fee", "non_negative", "the chargeback fee must not be negative")
    clearing = clearing_account(event.gateway)
    legs = [Leg(DISPUTES_LIABILITY, amount.currency, "debit", amount.minor),
            Leg(clearing, amount.currency, "credit", amount.minor)]
    if fee.minor:
        legs += [Leg(f"merchant:{event.merchant_id}", fee.currency, "debit", fee.minor),
                 Leg(clearing, fee.currency, "credit", fee.minor)]
    return legs
