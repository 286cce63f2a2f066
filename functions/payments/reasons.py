"""Reason codes of payments.payment-failed and payments.refund-failed: the documented, closed lists.

Consumers (notifications, dashboards) may switch on these; add codes, never rename them.
"""

from __future__ import annotations

from typing import Final

# ---- payment-failed ------------------------------------------------------------------------------
CARD_DECLINED: Final = "card_declined"
INSUFFICIENT_FUNDS: Final = "insufficient_funds"
EXPIRED_CARD: Final = "expired_card"
INCORRECT_CVC: Final = "incorrect_cvc"
LOST_OR_STOLEN_CARD: Final = "lost_or_stolen_card"
INVALID_PAYMENT_METHOD: Final = "invalid_payment_method"
METHOD_NOT_SUPPORTED: Final = "payment_method_not_supported"
AUTHENTICATION_REQUIRED: Final = "authentication_required"
FRAUD_DECLINED: Final = "fraud_declined"
GATEWAY_REJECTED: Final = "gateway_rejected"

PAYMENT_FAILURE_REASONS: Final[dict[str, str]] = {
    CARD_DECLINED: "The issuer declined the card without a more specific reason.",
    INSUFFICIENT_FUNDS: "The account behind the card has insufficient funds.",
    EXPIRED_CARD: "The card has expired.",
    INCORRECT_CVC: "The card's security code is incorrect.",
    LOST_OR_STOLEN_CARD: "The card was reported lost or stolen.",
    INVALID_PAYMENT_METHOD: "The payment method token is unknown to the gateway.",
    METHOD_NOT_SUPPORTED: "The configured gateway cannot charge this payment method type.",
    AUTHENTICATION_REQUIRED: "The card needs customer authentication (3-D Secure); a server-side charge cannot.",
    FRAUD_DECLINED: "The fraud rules declined the payment before it reached the gateway.",
    GATEWAY_REJECTED: "The gateway rejected the request permanently (e.g. invalid parameters).",
}

# ---- refund-failed -------------------------------------------------------------------------------
PAYMENT_NOT_FOUND: Final = "payment_not_found"
PAYMENT_NOT_REFUNDABLE: Final = "payment_not_refundable"
AMOUNT_EXCEEDS_REFUNDABLE: Final = "amount_exceeds_refundable"
CURRENCY_MISMATCH: Final = "currency_mismatch"
REFUND_DECLINED: Final = "refund_declined"

REFUND_FAILURE_REASONS: Final[dict[str, str]] = {
    PAYMENT_NOT_FOUND: "No payment with this id is known to the payments store.",
    PAYMENT_NOT_REFUNDABLE: "The payment is not captured (still requested/authorized, failed, or fully refunded).",
    AMOUNT_EXCEEDS_REFUNDABLE: "The refund is larger than what was captured minus what is already refunded.",
    CURRENCY_MISMATCH: "The refund's currency differs from the payment's currency.",
    REFUND_DECLINED: "The gateway declined the refund.",
}
