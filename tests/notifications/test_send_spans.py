"""Provider and webhook calls are client spans of the delivery, exported to a real OTLP receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notifications.harness import MakeHarness
from tests.notifications.servers import json_api
from tests.notifications.test_providers import sms, twilio
from tests.support.http_recorder import recording_server
from tests.support.otlp import Receiver, exporting, flushed


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with exporting("notifications") as running:
        yield running


def test_an_sms_and_a_webhook_are_client_spans_of_their_deliveries(receiver: Receiver,
                                                                   make_harness: MakeHarness) -> None:
    with json_api(default=(201, {"sid": "SM1", "status": "queued"})) as api, recording_server(204) as hook:
        app = make_harness(**twilio(api))
        assert app.request(sms("ntf_span_sms")).status_code == 200
        webhook = {"notificationId": "ntf_span_hook", "channel": "webhook", "recipient": hook.url + "/h",
                   "body": "hi"}
        assert app.request(webhook).status_code == 200
    spans = flushed(receiver, lambda found: {"provider.sms", "webhook.send"} <= {s.name for s in found})
    servers = {span.trace_id for span in spans if span.kind == "server"}
    calls = [span for span in spans if span.name in {"provider.sms", "webhook.send"}]
    assert sorted(span.name for span in calls) == ["provider.sms", "webhook.send"]
    assert all(span.kind == "client" and span.trace_id in servers for span in calls)
    assert len({span.trace_id for span in calls}) == 2  # one per delivery
