"""OpenTelemetry in the runtime: spans exported over OTLP/HTTP to a real local receiver when the standard
variables ask for them, and nothing of OpenTelemetry imported (or done) when they do not."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from shared import tracing
from shared.config import RuntimeSettings
from shared.contract import Reply
from shared.observability import JsonFormatter
from shared.publish import KafkaSinkPublisher, MemoryPublisher
from shared.store import Store
from tests.support import build_app, flask_client, post_event
from tests.support import runtime_fixture as probe
from tests.support.http_recorder import recording_server
from tests.support.otlp import Receiver, Span, exporting

REQUESTED = "payments.payment-requested"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local OTLP receiver, with this process's tracing on and exporting to it."""
    with exporting("probe") as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from probe.probe_store(tmp_path)


def _client(store: Store, publisher: MemoryPublisher) -> FlaskClient:
    return flask_client(build_app(probe.spec(), store, RuntimeSettings(), publisher))


def _flush(receiver: Receiver, count: int) -> list[Span]:
    assert tracing._state.provider is not None
    tracing._state.provider.force_flush()
    return receiver.wait_for(lambda spans: len(spans) >= count, timeout=10)


def test_a_delivery_is_a_server_span_continuing_the_callers_trace_with_store_and_publish_children(
        receiver: Receiver, store: Store) -> None:
    publisher = MemoryPublisher()
    response = post_event(_client(store, publisher), REQUESTED, probe.payment(), event_id="evt-t1",
                          traceparent=TRACEPARENT, correlationid="corr-t1")
    assert response.status_code == 200
    spans = _flush(receiver, 3)
    server = next(span for span in spans if span.kind == "server")
    assert server.name == f"{REQUESTED} process"
    assert (server.trace_id, server.parent_id) == (CALLER_TRACE, CALLER_SPAN)
    assert server.service == "probe"
    assert server.attributes["cloudevents.event_id"] == "evt-t1"
    assert server.attributes["paymesh.correlation_id"] == "corr-t1"
    assert server.attributes["paymesh.outcome"] == "handled"
    children = {span.name: span for span in spans if span.parent_id == server.span_id}
    assert {"store.transaction", "publish"} <= set(children)
    assert children["publish"].kind == "producer"
    assert all(span.trace_id == CALLER_TRACE for span in spans)
    # every output carries the server span as its traceparent
    assert {event.attributes["traceparent"] for event in publisher.events} == {
        f"00-{CALLER_TRACE}-{server.span_id}-01"}


def test_without_a_traceparent_the_delivery_starts_a_trace_and_a_refusal_is_an_error_span(
        receiver: Receiver, store: Store) -> None:
    client = _client(store, MemoryPublisher())
    response = post_event(client, REQUESTED, probe.payment(metadata={"behaviour": "reject"}))
    assert response.status_code == 422
    server = next(span for span in _flush(receiver, 1) if span.kind == "server")
    assert server.parent_id == ""
    assert server.attributes["paymesh.outcome"] == "rejected"
    assert server.attributes["http.response.status_code"] == 422
    assert server.status_code == 2  # ERROR


def test_a_function_span_is_a_child_of_the_delivery(receiver: Receiver) -> None:
    with tracing.server_span("delivery", TRACEPARENT), tracing.span("gateway.charge", {"gateway": "sim"},
                                                                       kind="client") as call:
        call.set_attribute("amount_minor", 2500)
    spans = _flush(receiver, 2)
    server = next(span for span in spans if span.name == "delivery")
    child = next(span for span in spans if span.name == "gateway.charge")
    assert (child.parent_id, child.kind, child.attributes) == (
        server.span_id, "client", {"gateway": "sim", "amount_minor": 2500})


def test_log_lines_carry_the_trace_id(receiver: Receiver, store: Store,
                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="paymesh.runtime"):
        post_event(_client(store, MemoryPublisher()), REQUESTED, probe.payment(), traceparent=TRACEPARENT)
    handled = next(record for record in caplog.records if record.getMessage() == "event handled")
    assert json.loads(JsonFormatter().format(handled))["trace_id"] == CALLER_TRACE


def test_tracing_off_logs_still_carry_the_trace_id_and_outputs_keep_derived_traceparents(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    assert not tracing.enabled()
    publisher = MemoryPublisher()
    with caplog.at_level(logging.INFO, logger="paymesh.runtime"):
        post_event(_client(store, publisher), REQUESTED, probe.payment(), traceparent=TRACEPARENT)
    handled = next(record for record in caplog.records if record.getMessage() == "event handled")
    assert getattr(handled, "trace_id", None) == CALLER_TRACE
    assert all(event.attributes["traceparent"].split("-")[1] == CALLER_TRACE for event in publisher.events)
    assert tracing.span("anything") is tracing.span("else")  # the one shared no-op


@pytest.mark.parametrize(("environ", "wanted"), [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"}, False),
])
def test_which_variables_turn_tracing_on(environ: dict[str, str], wanted: bool) -> None:
    assert tracing.requested(environ) is wanted


def test_an_unsupported_protocol_is_a_configuration_error() -> None:
    with pytest.raises(tracing.TracingConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        tracing.configure("probe", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    assert not tracing.enabled()


def _imports(environ: dict[str, str]) -> str:
    """`python -X importtime` of a real function's start-up: importing main.py builds the app."""
    code = ("import sys\n"
            "from functions.ledger import main\n"
            "print(sorted({name.split('.')[0] for name in sys.modules if name.startswith('opentelemetry')}))\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(environ)
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout + done.stderr


def test_without_the_variables_nothing_of_opentelemetry_is_imported(tmp_path: Path) -> None:
    output = _imports({"PAYMESH_HOME": str(tmp_path), "PAYMESH_PUBLISHER": "memory"})
    assert "opentelemetry" not in output.replace("[]", "")
    traced = _imports({"PAYMESH_HOME": str(tmp_path), "PAYMESH_PUBLISHER": "memory",
                       "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert "opentelemetry.sdk.trace" in traced  # the same check sees it when it is there


def test_handler_latency_carries_the_trace_id_as_an_exemplar_in_openmetrics(
        receiver: Receiver, store: Store) -> None:
    client = _client(store, MemoryPublisher())
    assert post_event(client, REQUESTED, probe.payment(), traceparent=TRACEPARENT).status_code == 200
    metrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert metrics.content_type.startswith("application/openmetrics-text")
    lines = [line for line in metrics.data.decode().splitlines()
             if line.startswith("paymesh_handler_duration_seconds_bucket") and 'function="probe"' in line]
    assert any(f'# {{trace_id="{CALLER_TRACE}"}}' in line for line in lines), lines
    plain = client.get("/metrics")  # the classic text format, as before, for scrapers that do not ask
    assert plain.content_type.startswith("text/plain") and b"# {trace_id" not in plain.data


def test_each_kafkasink_post_is_a_producer_span_under_publish_also_from_the_pool_threads(
        receiver: Receiver, store: Store) -> None:
    with recording_server() as sinks:
        publisher = KafkaSinkPublisher({topic: f"{sinks.url}/{topic}" for topic in probe.OUTPUTS})
        client = flask_client(build_app(probe.spec(), store, RuntimeSettings(), publisher))
        # two outputs with different partition keys: posted concurrently from the publisher's pool
        assert post_event(client, REQUESTED, probe.payment(), traceparent=TRACEPARENT).status_code == 200
        publisher.close()
    spans = _flush(receiver, 5)
    publish = next(span for span in spans if span.name == "publish")
    posts = [span for span in spans if span.name.endswith(" publish") and span.kind == "producer"]
    assert {span.name for span in posts} == {f"{topic} publish" for topic in probe.OUTPUTS}
    assert {span.parent_id for span in posts} == {publish.span_id}
    assert all(span.attributes["messaging.destination.name"] in probe.OUTPUTS for span in posts)


def test_a_query_route_is_a_server_span(receiver: Receiver, store: Store) -> None:
    spec = probe.spec()
    spec.get("/things/{thing}", lambda q: Reply({"thing": q.params["thing"]}))
    client = flask_client(build_app(spec, store, RuntimeSettings(), MemoryPublisher()))
    assert client.get("/things/t1", headers={"traceparent": TRACEPARENT}).status_code == 200
    [server] = [span for span in _flush(receiver, 1) if span.kind == "server"]
    assert (server.name, server.attributes["http.route"]) == ("GET /things/{thing}", "/things/{thing}")
    assert (server.trace_id, server.parent_id) == (CALLER_TRACE, CALLER_SPAN)
