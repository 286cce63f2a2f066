"""A deterministic in-process gateway. The token decides the outcome, like Stripe's test tokens:

| token                                                   | outcome                                  |
|---------------------------------------------------------|------------------------------------------|
| tok_visa, tok_mastercard, tok_amex, tok_discover,       | approved (any method type)               |
| tok_bankTransfer, tok_wallet                            |                                          |
| tok_chargeDeclined                                      | declined: card_declined                  |
| tok_insufficientFunds, tok_chargeDeclinedInsufficientFunds | declined: insufficient_funds          |
| tok_expiredCard, tok_chargeDeclinedExpiredCard          | declined: expired_card                   |
| tok_incorrectCvc, tok_chargeDeclinedIncorrectCvc        | declined: incorrect_cvc                  |
| tok_lostCard, tok_stolenCard                            | declined: lost_or_stolen_card            |
| tok_processingError, tok_chargeDeclinedProcessingError  | GatewayUnavailableError (transient, 503)      |
| anything else                                           | declined: invalid_payment_method         |

Results are remembered by idempotency key, so a repeated call returns the first result and never charges
twice. `lose_responses(step, n)` makes the next n calls of a step take effect and then fail as if the
response was lost on the way back (a timeout after the charge): what redelivery must survive.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field

from functions.payments import reasons
from functions.payments.gateways import ChargeRequest, GatewayResult, GatewayUnavailableError, RefundCall

APPROVED_TOKENS = frozenset({"tok_visa", "tok_mastercard", "tok_amex", "tok_discover", "tok_bankTransfer",
                             "tok_wallet"})
DECLINE_TOKENS: dict[str, str] = {
    "tok_chargeDeclined": reasons.CARD_DECLINED,
    "tok_insufficientFunds": reasons.INSUFFICIENT_FUNDS,
    "tok_chargeDeclinedInsufficientFunds": reasons.INSUFFICIENT_FUNDS,
    "tok_expiredCard": reasons.EXPIRED_CARD,
    "tok_chargeDeclinedExpiredCard": reasons.EXPIRED_CARD,
    "tok_incorrectCvc": reasons.INCORRECT_CVC,
    "tok_chargeDeclinedIncorrectCvc": reasons.INCORRECT_CVC,
    "tok_lostCard": reasons.LOST_OR_STOLEN_CARD,
    "tok_stolenCard": reasons.LOST_OR_STOLEN_CARD,
}
TRANSIENT_TOKENS = frozenset({"tok_processingError", "tok_chargeDeclinedProcessingError"})


@dataclass
class SimulatedGateway:
    name: str = "simulated"
    # idempotency key -> result: the gateway's side of the story.
    results: dict[str, GatewayResult] = field(default_factory=dict)
    # How many times each step actually took effect (a replay by idempotency key does not count).
    effects: Counter[str] = field(default_factory=Counter)
    _lost: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lose_responses(self, step: str, times: int = 1) -> None:
        self._lost[step] += times

    def _once(self, step: str, key: str, decide: GatewayResult) -> GatewayResult:
        with self._lock:
            result = self.results.get(key)
            if result is None:
                result = self.results[key] = decide
                self.effects[step] += 1
            if self._lost[step] > 0:
                self._lost[step] -= 1
                raise GatewayUnavailableError(f"simulated gateway: {step} response lost (timeout)")
            return result

    @staticmethod
    def _reference(prefix: str, key: str) -> str:
        return f"{prefix}_sim_{hashlib.sha256(key.encode()).hexdigest()[:24]}"

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        token = request.token
        if token in TRANSIENT_TOKENS:
            raise GatewayUnavailableError("simulated gateway: processing error, try again")
        key = request.idempotency_key("authorize")
        if token in APPROVED_TOKENS:
            decision = GatewayResult(True, self._reference("pi", request.payment_id))
        elif token in DECLINE_TOKENS:
            reason = DECLINE_TOKENS[token]
            decision = GatewayResult(False, self._reference("pi", request.payment_id), reason,
                                     f"simulated decline: {reason}")
        else:
            decision = GatewayResult(False, None, reasons.INVALID_PAYMENT_METHOD, "no such payment method token")
        return self._once("authorize", key, decision)

    def capture(self, request: ChargeRequest, reference: str) -> GatewayResult:
        return self._once("capture", request.idempotency_key("capture"), GatewayResult(True, reference))

    def refund(self, call: RefundCall) -> GatewayResult:
        return self._once("refund", call.idempotency_key,
                          GatewayResult(True, self._reference("re", call.refund_id)))
