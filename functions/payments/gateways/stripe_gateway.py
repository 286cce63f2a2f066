"""The Stripe adapter, on the official SDK: PaymentIntents with manual capture and Refunds.

authorize = create (capture_method=manual) + confirm -> status requires_capture
capture   = capture                                   -> status succeeded
refund    = refunds.create(payment_intent, amount)

Each request carries an Idempotency-Key derived from the payment (refund) id and the step, so a call
repeated after a lost response is answered by Stripe with the first result. The SDK's own retries are off:
the event is redelivered instead, with the same keys. Amounts are the integer minor units Stripe expects.
"""

from __future__ import annotations

from typing import Any

import stripe

from functions.payments import reasons
from functions.payments.gateways import ChargeRequest, GatewayResult, GatewayUnavailableError, RefundCall
from functions.payments.settings import PaymentsSettings

# Stripe decline_code / code -> our reason code.
DECLINE_REASONS: dict[str, str] = {
    "insufficient_funds": reasons.INSUFFICIENT_FUNDS,
    "expired_card": reasons.EXPIRED_CARD,
    "incorrect_cvc": reasons.INCORRECT_CVC,
    "invalid_cvc": reasons.INCORRECT_CVC,
    "lost_card": reasons.LOST_OR_STOLEN_CARD,
    "stolen_card": reasons.LOST_OR_STOLEN_CARD,
    "card_declined": reasons.CARD_DECLINED,
    "generic_decline": reasons.CARD_DECLINED,
}
# Stripe says these may succeed when tried again.
RETRYABLE_CODES = frozenset({"processing_error", "lock_timeout", "rate_limit"})


def _declined(error: stripe.StripeError) -> GatewayResult:
    details = error.error
    decline_code = getattr(details, "decline_code", None) if details is not None else None
    reason = DECLINE_REASONS.get(decline_code or "") or DECLINE_REASONS.get(error.code or "", reasons.CARD_DECLINED)
    intent = getattr(details, "payment_intent", None) if details is not None else None
    reference = intent.get("id") if isinstance(intent, dict) else getattr(intent, "id", None)
    return GatewayResult(False, reference, reason, error.user_message or str(error))


class StripeGateway:
    name = "stripe"

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: PaymentsSettings) -> StripeGateway:
        assert settings.payments_stripe_api_key is not None
        base = settings.payments_stripe_api_base
        client = stripe.StripeClient(
            settings.payments_stripe_api_key.get_secret_value(),
            base_addresses={"api": base} if base else None,
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=settings.payments_stripe_timeout_seconds),
        )
        return cls(client)

    def _call(self, action: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one SDK call; a decline is a result, anything worth retrying raises GatewayUnavailableError."""
        try:
            return action(*args, **kwargs)
        except stripe.CardError as error:
            if error.code in RETRYABLE_CODES:
                raise GatewayUnavailableError(f"stripe: {error.code}") from None
            return _declined(error)
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.AuthenticationError,
                stripe.PermissionError) as error:
            raise GatewayUnavailableError(f"stripe: {type(error).__name__}") from None
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing" and error.param and "token" in error.param:
                return GatewayResult(False, None, reasons.INVALID_PAYMENT_METHOD, error.user_message or str(error))
            return GatewayResult(False, None, reasons.GATEWAY_REJECTED, error.user_message or str(error))
        except stripe.StripeError as error:
            status = error.http_status or 500
            if status >= 500 or status in {408, 409, 429}:
                raise GatewayUnavailableError(f"stripe: HTTP {status}") from None
            return GatewayResult(False, None, reasons.GATEWAY_REJECTED, str(error))

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        if request.method_type == "bank_transfer":
            return GatewayResult(False, None, reasons.METHOD_NOT_SUPPORTED,
                                 "the stripe adapter charges cards and card-based wallets only")
        params: dict[str, Any] = {
            "amount": request.amount.minor,
            "currency": request.amount.currency.lower(),
            "capture_method": "manual",
            "payment_method_types": ["card"],
            "payment_method_data": {"type": "card", "card": {"token": request.token}},
            "metadata": dict(request.metadata),
        }
        if request.description:
            params["description"] = request.description
        created = self._call(self.client.v1.payment_intents.create, params=params,
                             options={"idempotency_key": request.idempotency_key("create")})
        if isinstance(created, GatewayResult):
            return created
        confirmed = self._call(self.client.v1.payment_intents.confirm, created.id,
                               options={"idempotency_key": request.idempotency_key("confirm")})
        if isinstance(confirmed, GatewayResult):
            return confirmed
        if confirmed.status in {"requires_capture", "succeeded"}:
            return GatewayResult(True, confirmed.id)
        if confirmed.status == "requires_action":
            return GatewayResult(False, confirmed.id, reasons.AUTHENTICATION_REQUIRED,
                                 "the card requires customer authentication (3-D Secure)")
        return GatewayResult(False, confirmed.id, reasons.CARD_DECLINED, f"payment intent is {confirmed.status}")

    def capture(self, request: ChargeRequest, reference: str) -> GatewayResult:
        captured = self._call(self.client.v1.payment_intents.capture, reference,
                              options={"idempotency_key": request.idempotency_key("capture")})
        if isinstance(captured, GatewayResult):
            return captured
        if captured.status == "succeeded":
            return GatewayResult(True, captured.id)
        return GatewayResult(False, captured.id, reasons.GATEWAY_REJECTED, f"payment intent is {captured.status}")

    def refund(self, call: RefundCall) -> GatewayResult:
        refund = self._call(self.client.v1.refunds.create,
                            params={"payment_intent": call.payment_reference, "amount": call.amount.minor},
                            options={"idempotency_key": call.idempotency_key})
        if isinstance(refund, GatewayResult):
            if refund.reason != reasons.GATEWAY_REJECTED:
                return refund
            return GatewayResult(False, refund.reference, reasons.REFUND_DECLINED, refund.message)
        if refund.status in {"succeeded", "pending"}:
            return GatewayResult(True, refund.id)
        return GatewayResult(False, refund.id, reasons.REFUND_DECLINED, f"refund is {refund.status}")
