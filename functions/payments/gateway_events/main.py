"""The gateway events service as a functions-framework target (a second Knative Service from the payments image):

    functions-framework --source functions/payments/gateway_events/main.py --target handle
"""

import atexit
import sys

import flask
import functions_framework

from functions.payments.gateway_events.service import OUTPUTS, GatewayEventsApp
from functions.payments.settings import PaymentsSettings
from shared import tracing
from shared.config import load_settings
from shared.observability import configure_logging
from shared.publish import build_publisher

_settings = load_settings(PaymentsSettings)
configure_logging(_settings.log_level)
try:
    tracing.configure("payments-gateway-events")
except tracing.TracingConfigError as error:
    print(f"paymesh: configuration error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(2) from None
if _settings.payments_stripe_webhook_secret is None:
    print("paymesh: configuration error: PAYMESH_PAYMENTS_STRIPE_WEBHOOK_SECRET is required", file=sys.stderr)
    raise SystemExit(2)
try:
    _publisher = build_publisher(_settings, OUTPUTS)
except ValueError as error:
    print(f"paymesh: configuration error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(2) from None
atexit.register(_publisher.close)
_function = GatewayEventsApp(_settings.payments_stripe_webhook_secret.get_secret_value(), _publisher,
                             tolerance_seconds=_settings.payments_stripe_webhook_tolerance_seconds,
                             body_bytes_max=_settings.body_bytes_max)


@functions_framework.http
def handle(request: flask.Request) -> flask.Response:
    return _function(request)
