"""Provider and webhook calls are client spans of the delivery, exported to a real OTLP receiver."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from shared import tracing
from tests.notifications.harness import MakeHarness
from tests.notifications.servers import json_api
from tests.notifications.test_providers import sms, twilio
from tests.support.http_recorder import recording_server
from tests.support.otlp import Receiver, otlp_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": running.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        saved = {name: os.environ.get(name) for name in environ}
        os.environ.update(environ)
        try:
            assert tracing.configure("notifications")
            yield running
        finally:
            tracing.shutdown()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def test_an_sms_and_a_webhook_are_client_spans_of_their_deliveries(receiver: Receiver,
                                                                   make_harness: MakeHarness) -> None:
    with json_api(default=(201, {"sid": "SM1", "status": "queued"})) as api, recording_server(204) as hook:
        app = make_harness(**twilio(api))
        assert app.request(sms("ntf_span_sms")).status_code == 200
        webhook = {"notificationId": "ntf_span_hook", "channel": "webhook", "recipient": hook.url + "/h",
                   "body": "hi"}
        assert app.request(webhook).status_code == 200
    assert tracing._state.provider is not None
    tracing._state.provider.force_flush()
    spans = receiver.wait_for(lambda found: {"provider.sms", "webhook.send"} <= {s.name for s in found}, timeout=10)
    servers = {span.trace_id for span in spans if span.kind == "server"}
    calls = [span for span in spans if span.name in {"provider.sms", "webhook.send"}]
    assert sorted(span.name for span in calls) == ["provider.sms", "webhook.send"]
    assert all(span.kind == "client" and span.trace_id in servers for span in calls)
    assert len({span.trace_id for span in calls}) == 2  # one per delivery
