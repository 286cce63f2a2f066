"""The gateway events service: POST / takes a Stripe webhook, verifies its Stripe-Signature with the stripe
SDK's verifier, and publishes payments.gateway-event-received through the runtime's publisher (KafkaSink).

It keeps no state: the CloudEvent id is derived from the Stripe event id, so a webhook Stripe delivers twice
becomes the same CloudEvent twice, which the payments function answers once (idempotent per source and id).

Answers: 200 published (or acknowledged and ignored: a type paymesh does not use); 400 malformed header or
body, 401 a signature that does not verify (wrong secret, altered body, timestamp outside the tolerance),
413 too large, 503 the publisher failed (Stripe retries). The signing secret is never logged or echoed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import flask
import stripe

from functions.payments.gateway_events.stripe_events import bad_event, translate
from shared import tracing
from shared.envelope import Envelope, dumps
from shared.errors import EventError, TransientError
from shared.events import GatewayEventReceived
from shared.observability import child_traceparent
from shared.publish import Publisher
from shared.runtime import output_id

log = logging.getLogger("paymesh.payments.gateway_events")

SOURCE = "/paymesh/payments-gateway-events/stripe"
OUTPUTS = frozenset({GatewayEventReceived.type_name})
SIGNATURE_HEADER = "Stripe-Signature"


def _json(body: Any, status: int, headers: Mapping[str, str] | None = None) -> flask.Response:
    return flask.Response(dumps(body), status=status, headers=dict(headers or {}), content_type="application/json")


class GatewayEventsApp:
    """A functions-framework `http` target (flask.Request -> Response)."""

    def __init__(self, secret: str, publisher: Publisher, *, tolerance_seconds: int = 300,
                 body_bytes_max: int = 1024 * 1024) -> None:
        self._secret = secret
        self.publisher = publisher
        self.tolerance_seconds = tolerance_seconds
        self.body_bytes_max = body_bytes_max

    def __call__(self, request: flask.Request) -> flask.Response:
        path = request.path.rstrip("/") or "/"
        if path in {"/health", "/live", "/ready"} and request.method == "GET":
            ready = self.publisher.ready()
            return _json({"status": "ok" if ready else "unavailable", "function": "payments-gateway-events"},
                         200 if ready or path != "/ready" else 503)
        if path == "/metrics" and request.method == "GET":
            from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

            return flask.Response(generate_latest(REGISTRY), 200, content_type=CONTENT_TYPE_LATEST)
        if path != "/":
            return _json({"error": "not_found", "message": f"no route {request.method} {path}"}, 404)
        if request.method != "POST":
            return _json({"error": "method_not_allowed", "message": "POST Stripe webhooks to /"}, 405,
                         {"Allow": "POST"})
        try:
            return self.receive(request)
        except EventError as error:
            log.info("gateway event refused", extra={"status": error.status, "error": error.code,
                                                     "field": error.problems[0].field if error.problems else None})
            return _json(error.to_json(), error.status)
        except TransientError as error:
            log.warning("gateway event not published; the gateway will retry", extra={"error": str(error)})
            return _json({"error": "unavailable", "message": "could not publish the event; retry later"}, 503)

    def _body(self, request: flask.Request) -> bytes:
        limit = self.body_bytes_max
        body = request.stream.read(limit + 1)
        if len(body) > limit or (request.content_length or 0) > limit:
            raise EventError.field(413, "payload_too_large", "body", "max_bytes",
                                   f"the body must be at most {limit} bytes")
        return body

    def verify(self, body: bytes, header: str | None) -> Any:
        """The parsed event once its signature verifies; 400/401 otherwise."""
        if not header:
            raise bad_event(SIGNATURE_HEADER, "required", f"the {SIGNATURE_HEADER} header is required")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_event("body", "utf8", "the body must be UTF-8 JSON") from None
        try:
            stripe.WebhookSignature.verify_header(text, header, self._secret, self.tolerance_seconds)
        except stripe.SignatureVerificationError:
            # The SDK's message says which check failed but may quote the header; neither goes out.
            raise EventError.field(401, "invalid_signature", SIGNATURE_HEADER, "signature",
                                   "the signature does not verify for this body and endpoint, or is too old") from None
        try:
            return json.loads(text)
        except ValueError:
            raise bad_event("body", "json", "the body must be a JSON object") from None

    def receive(self, request: flask.Request) -> flask.Response:
        event = self.verify(self._body(request), request.headers.get(SIGNATURE_HEADER))
        data = translate(event)
        if data is None:
            log.info("gateway event ignored", extra={"gateway_event_type": str(event.get("type"))[:100]})
            return _json({"received": True, "published": None}, 200)
        traceparent = request.headers.get("traceparent")
        if tracing.enabled():
            with tracing.server_span("POST / gateway event", traceparent, {"paymesh.gateway_event_type": data.kind}):
                envelope = self.envelope(data, tracing.current_traceparent() or traceparent)
                self.publisher.publish([envelope])
        else:
            envelope = self.envelope(data, traceparent)
            self.publisher.publish([envelope])
        log.info("gateway event published", extra={"gateway_event_id": data.gateway_event_id,
                                                   "event_type": data.type_name, "kind": data.kind})
        return _json({"received": True, "published": {"id": envelope.id, "type": envelope.type}}, 200)

    @staticmethod
    def envelope(data: GatewayEventReceived, traceparent: str | None) -> Envelope:
        event_id = output_id(SOURCE, data.gateway_event_id, data.type_name, 0)
        return Envelope({
            "specversion": "1.0", "id": event_id, "source": SOURCE, "type": data.type_name, "subject": data.key,
            "time": data.occurred_at.isoformat().replace("+00:00", "Z"), "datacontenttype": "application/json",
            "partitionkey": data.key, "correlationid": data.gateway_event_id,
            "traceparent": child_traceparent(traceparent, event_id)}, data.wire())
