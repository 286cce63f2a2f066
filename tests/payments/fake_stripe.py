"""A small local HTTP server that speaks the Stripe endpoints the adapter uses, records every request and
honours Idempotency-Key like Stripe: a repeated key returns the first response and does nothing again.

POST /v1/payment_intents, /v1/payment_intents/{id}/confirm, /v1/payment_intents/{id}/capture, /v1/refunds.
The card token in payment_method_data[card][token] decides the outcome at confirm, like Stripe's test tokens.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.support.http_recorder import QuietHandler, serving

DECLINES = {
    "tok_chargeDeclined": ("card_declined", "generic_decline"),
    "tok_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds"),
    "tok_chargeDeclinedExpiredCard": ("expired_card", None),
    "tok_chargeDeclinedIncorrectCvc": ("incorrect_cvc", None),
    "tok_chargeDeclinedProcessingError": ("processing_error", None),
}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeStripe:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: int = 0
    # path suffix -> number of times to do the work and then answer 500 (a lost response)
    lose: dict[str, int] = field(default_factory=dict)
    _replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def handle(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if parts == ["v1", "payment_intents"]:
            intent: dict[str, Any] = {"id": f"pi_{len(self.intents) + 1:04d}", "object": "payment_intent",
                      "amount": int(form["amount"]), "currency": form["currency"], "status": "requires_confirmation",
                      "capture_method": form.get("capture_method", "automatic"),
                      "token": form.get("payment_method_data[card][token]")}
            self.intents[intent["id"]] = intent
            return 200, intent
        if parts[:2] == ["v1", "payment_intents"] and len(parts) == 4 and parts[2] in self.intents:
            intent = self.intents[parts[2]]
            if parts[3] == "confirm":
                decline = DECLINES.get(str(intent["token"]))
                if decline is not None:
                    intent["status"] = "requires_payment_method"
                    error = {"type": "card_error", "code": decline[0], "message": f"Your card: {decline[0]}",
                             "payment_intent": dict(intent)}
                    if decline[1]:
                        error["decline_code"] = decline[1]
                    return 402, {"error": error}
                intent["status"] = "requires_capture" if intent["capture_method"] == "manual" else "succeeded"
                return 200, intent
            if parts[3] == "capture" and intent["status"] == "requires_capture":
                intent["status"] = "succeeded"
                self.captures += 1
                return 200, intent
        if parts == ["v1", "refunds"] and form.get("payment_intent") in self.intents:
            refund: dict[str, Any] = {"id": f"re_{len(self.refunds) + 1:04d}", "object": "refund", "amount": int(form["amount"]),
                      "payment_intent": form["payment_intent"], "status": "succeeded"}
            self.refunds[refund["id"]] = refund
            return 200, refund
        return 400, {"error": {"type": "invalid_request_error", "message": f"bad request to {path}"}}


@contextmanager
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    lock = threading.Lock()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = dict(parse_qsl(body, keep_blank_values=True))
            key = self.headers.get("Idempotency-Key")
            with lock:
                fake.requests.append(Request("POST", self.path, dict(self.headers.items()), form))
                replayed = key is not None and key in fake._replies
                if replayed:
                    status, reply = fake._replies[str(key)]
                else:
                    status, reply = fake.handle(self.path, form)
                    if key is not None:
                        fake._replies[key] = (status, json.loads(json.dumps(reply)))
                lost = next((suffix for suffix, count in fake.lose.items()
                             if count > 0 and self.path.endswith(suffix)), None)
                if lost is not None:
                    fake.lose[lost] -= 1
                    status, reply = 500, {"error": {"type": "api_error", "message": "lost"}}
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", "req_fake")
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            self.wfile.write(payload)

    with serving(Handler) as url:
        fake.url = url
        yield fake
