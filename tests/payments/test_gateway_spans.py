"""Each gateway call is a client span under the delivery's server span, exported to a real OTLP receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.payments.app import build_spec
from functions.payments.settings import PaymentsSettings
from shared.publish import MemoryPublisher
from tests.payments.harness import MIGRATIONS, PAYMENT_REQUESTED, payment
from tests.support import build_app, flask_client, post_event, temporary_store
from tests.support.otlp import Receiver, exporting, flushed

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with exporting("payments") as running:
        yield running


def test_authorize_and_capture_are_client_spans_of_the_delivery(receiver: Receiver, tmp_path: Path) -> None:
    settings = PaymentsSettings()
    with temporary_store("sqlite", "payments", MIGRATIONS, tmp_path) as store:
        client = flask_client(build_app(build_spec(settings), store, settings, MemoryPublisher()))
        response = post_event(client, PAYMENT_REQUESTED, payment("pay_span"), traceparent=TRACEPARENT)
    assert response.status_code == 200
    spans = flushed(receiver, lambda found: {"gateway.authorize", "gateway.capture"} <= {s.name for s in found})
    server = next(span for span in spans if span.kind == "server")
    calls = [span for span in spans if span.name.startswith("gateway.")]
    assert sorted(span.name for span in calls) == ["gateway.authorize", "gateway.capture"]
    assert all(span.kind == "client" and span.trace_id == server.trace_id for span in calls)
    assert all(span.attributes["paymesh.gateway"] == "simulated" for span in calls)
    # children of the delivery (directly, or through the store transaction's span)
    ids = {span.span_id for span in spans}
    assert all(span.parent_id in ids for span in calls)
