"""The runtime's delivery contract: content modes, status codes, idempotency, ids and tracing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.config import RuntimeSettings, sink_env_name
from shared.envelope import dumps
from shared.publish import KafkaSinkPublisher, MemoryPublisher
from shared.runtime import FunctionApp, output_id
from shared.store import Store
from tests.support import binary_headers, build_app, flask_client, post_event, reply_json, structured
from tests.support import runtime_fixture as probe
from tests.support.http_recorder import recording_server

REQUESTED = "payments.payment-requested"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from probe.probe_store(tmp_path)


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def app(store: Store, publisher: MemoryPublisher) -> FunctionApp:
    return build_app(probe.spec(), store, RuntimeSettings(body_bytes_max=4096), publisher)


@pytest.fixture
def client(app: FunctionApp) -> FlaskClient:
    return flask_client(app)


# ---- content modes -----------------------------------------------------------------------------


def test_binary_mode_event_is_handled_and_replied_in_binary_mode(client: FlaskClient, store: Store,
                                                                  publisher: MemoryPublisher) -> None:
    response = post_event(client, REQUESTED, probe.payment(), event_id="evt-1")
    assert response.status_code == 200
    assert response.headers["ce-type"] == "payments.payment-failed"
    assert response.headers["ce-source"] == "/paymesh/probe"
    assert response.headers["ce-subject"] == "pay_1"
    assert response.headers["ce-partitionkey"] == "pay_1"
    assert reply_json(response)["reason"] == "card_declined"
    assert [row.amount_minor for row in probe.rows(store)] == [2500]
    assert [event.type for event in publisher.events] == ["payments.payment-failed", "audit.payment-events"]


def test_structured_mode_event_is_handled(client: FlaskClient, store: Store) -> None:
    document = structured(REQUESTED, probe.payment("pay_s"), event_id="evt-s")
    response = client.post("/", data=json.dumps(document),
                           headers={"Content-Type": "application/cloudevents+json; charset=utf-8"})
    assert response.status_code == 200
    assert response.headers["ce-subject"] == "pay_s"
    assert [row.payment_id for row in probe.rows(store)] == ["pay_s"]


def test_structured_mode_with_data_base64_is_decoded(client: FlaskClient, store: Store) -> None:
    document = structured(REQUESTED, None, event_id="evt-b64")
    del document["data"]
    document["data_base64"] = base64.b64encode(dumps(probe.payment("pay_b64"))).decode()
    response = client.post("/", data=json.dumps(document), headers={"Content-Type": "application/cloudevents+json"})
    assert response.status_code == 200
    assert [row.payment_id for row in probe.rows(store)] == ["pay_b64"]


def test_batch_mode_handles_every_event_in_order(client: FlaskClient, store: Store) -> None:
    batch = [structured(REQUESTED, probe.payment(f"pay_{n}"), event_id=f"evt-{n}") for n in range(3)]
    response = client.post("/", data=json.dumps(batch), headers={"Content-Type": "application/cloudevents-batch+json"})
    assert response.status_code == 200
    assert response.content_type == "application/cloudevents-batch+json"
    replies = reply_json(response)
    assert [reply["data"]["paymentId"] for reply in replies] == ["pay_0", "pay_1", "pay_2"]
    assert sorted(row.payment_id for row in probe.rows(store)) == ["pay_0", "pay_1", "pay_2"]


def test_batch_with_one_invalid_event_is_rejected_whole_before_any_write(client: FlaskClient, store: Store) -> None:
    batch = [structured(REQUESTED, probe.payment("pay_ok")),
             structured(REQUESTED, probe.payment("pay_bad", amount="1.001"))]
    response = client.post("/", data=json.dumps(batch), headers={"Content-Type": "application/cloudevents-batch+json"})
    assert response.status_code == 422
    assert reply_json(response)["field"] == "[1].data.amount"
    assert probe.rows(store) == []


def test_plain_kafka_record_wrapped_by_kafkasource_is_unwrapped_to_its_topic_type(
        client: FlaskClient, store: Store) -> None:
    headers = binary_headers("dev.knative.kafka.event", event_id="partition:2/offset:17",
                             source="/apis/v1/namespaces/paymesh/kafkasources/payments-source#payments.payment-requested",
                             subject="partition:2#17", key="pay_plain", partitionkey="pay_plain")
    headers.pop("Content-Type")  # records written without a content-type header arrive without one
    response = client.post("/", data=dumps(probe.payment("pay_plain")), headers=headers)
    assert response.status_code == 200
    assert response.headers["ce-type"] == "payments.payment-failed"
    assert [row.payment_id for row in probe.rows(store)] == ["pay_plain"]


def test_record_header_extensions_longer_than_twenty_characters_are_accepted(client: FlaskClient) -> None:
    # A seed (KafkaJS) record with an `x-correlation-id` header arrives as `kafkaheaderxcorrelationid`.
    headers = binary_headers("dev.knative.kafka.event", event_id="partition:0/offset:1",
                             source="/apis/v1/namespaces/paymesh/kafkasources/payments-source#payments.payment-requested",
                             kafkaheaderxcorrelationid="corr-42")
    assert client.post("/", data=dumps(probe.payment("pay_hdr")), headers=headers).status_code == 200
    too_long = binary_headers(probe.PaymentRequested.type_name, **{"x" * 101: "1"})
    response = client.post("/", data=dumps(probe.payment("pay_long")), headers=too_long)
    assert response.status_code == 400 and reply_json(response)["rule"] == "attribute_name"


def test_kafka_event_from_an_unknown_topic_is_not_guessed(client: FlaskClient) -> None:
    headers = binary_headers("dev.knative.kafka.event",
                             source="/apis/v1/namespaces/paymesh/kafkasources/x#other.topic")
    response = client.post("/", data=dumps(probe.payment()), headers=headers)
    assert response.status_code == 400
    assert reply_json(response)["field"] == "type"


# ---- the status-code contract: one test per code ----------------------------------------------


def test_200_with_primary_outcome(client: FlaskClient) -> None:
    assert post_event(client, REQUESTED, probe.payment()).status_code == 200


def test_204_when_the_handler_has_no_outcome(client: FlaskClient, store: Store) -> None:
    response = post_event(client, REQUESTED, probe.payment(metadata={"behaviour": "silent"}))
    assert response.status_code == 204
    assert response.data == b""
    assert len(probe.rows(store)) == 1


def test_400_not_a_cloudevent(client: FlaskClient) -> None:
    response = client.post("/", data=dumps(probe.payment()), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert reply_json(response)["field"] == "ce-specversion"


@pytest.mark.parametrize("missing", ["ce-id", "ce-source", "ce-type", "ce-specversion"])
def test_400_missing_required_attribute_names_it(client: FlaskClient, missing: str) -> None:
    headers = binary_headers(REQUESTED)
    del headers[missing]
    response = client.post("/", data=dumps(probe.payment()), headers=headers)
    assert response.status_code == 400
    assert reply_json(response)["field"] in {missing, "ce-specversion"}


def test_400_malformed_json(client: FlaskClient, store: Store) -> None:
    response = post_event(client, REQUESTED, b'{"paymentId": ')
    body = reply_json(response)
    assert response.status_code == 400
    assert (body["error"], body["field"], body["rule"]) == ("malformed_json", "data", "json")
    assert probe.rows(store) == []


def test_400_deeply_nested_json(client: FlaskClient) -> None:
    nested: object = {}
    for _ in range(40):
        nested = {"a": nested}
    response = post_event(client, REQUESTED, probe.payment(metadata={"deep": nested}))
    assert response.status_code == 400
    assert reply_json(response)["rule"] == "max_depth"


def test_400_unsupported_specversion(client: FlaskClient) -> None:
    response = post_event(client, REQUESTED, probe.payment(), specversion="0.3")
    assert response.status_code == 400
    assert reply_json(response)["field"] == "ce-specversion"


def test_400_type_this_function_does_not_consume(client: FlaskClient) -> None:
    response = post_event(client, "ledger.transaction-requested", {"transactionId": "t"})
    assert response.status_code == 400
    assert reply_json(response)["rule"] == "consumed_types"


def test_405_method_not_allowed_on_the_event_route(client: FlaskClient) -> None:
    assert client.put("/").status_code == 405


def test_413_body_over_the_limit(client: FlaskClient, store: Store) -> None:
    response = post_event(client, REQUESTED, probe.payment(description="x" * 5000))
    assert response.status_code == 413
    assert reply_json(response)["rule"] == "max_bytes"
    assert probe.rows(store) == []


def test_415_data_that_is_not_json(client: FlaskClient) -> None:
    headers = binary_headers(REQUESTED, content_type="application/xml")
    response = client.post("/", data=b"<payment/>", headers=headers)
    assert response.status_code == 415
    assert reply_json(response)["field"] == "ce-datacontenttype"


def test_422_schema_invalid_data_names_field_and_rule(client: FlaskClient, store: Store) -> None:
    response = post_event(client, REQUESTED, probe.payment(amount="10.001"))
    body = reply_json(response)
    assert response.status_code == 422
    assert (body["field"], body["rule"]) == ("data.amount", "decimal_places")
    assert probe.rows(store) == []


def test_422_from_the_handler_rolls_back_its_writes(client: FlaskClient, store: Store,
                                                     publisher: MemoryPublisher) -> None:
    response = post_event(client, REQUESTED, probe.payment(metadata={"behaviour": "reject"}))
    assert response.status_code == 422
    assert reply_json(response)["field"] == "data.merchantId"
    assert probe.rows(store) == []
    assert publisher.events == []


def test_503_on_transient_handler_failure_leaves_nothing_written(client: FlaskClient, store: Store) -> None:
    response = post_event(client, REQUESTED, probe.payment(metadata={"behaviour": "transient"}))
    assert response.status_code == 503
    assert reply_json(response)["error"] == "unavailable"
    assert probe.rows(store) == []


def test_503_when_the_store_is_down(publisher: MemoryPublisher) -> None:
    down = Store("postgresql+psycopg://postgres@127.0.0.1:1/test", function="probe")
    client = flask_client(build_app(probe.spec(), down, publisher=publisher))
    assert post_event(client, REQUESTED, probe.payment()).status_code == 503
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert reply_json(ready)["checks"]["store"] is False


def test_503_when_the_kafkasink_does_not_answer_202_and_the_retry_is_safe(store: Store) -> None:
    outputs = sorted(probe.OUTPUTS)
    with recording_server() as sink:
        sink.statuses = [500]
        publisher = KafkaSinkPublisher({topic: f"{sink.url}/paymesh/{topic}" for topic in outputs})
        client = flask_client(build_app(probe.spec(), store, publisher=publisher))
        first = post_event(client, REQUESTED, probe.payment(), event_id="evt-retry")
        assert first.status_code == 503
        second = post_event(client, REQUESTED, probe.payment(), event_id="evt-retry")
        assert second.status_code == 200
    assert len(probe.rows(store)) == 1
    first_try, redelivery = sink.requests[:2], sink.requests[2:]
    assert sorted(request.path for request in redelivery) == [f"/paymesh/{topic}" for topic in outputs]
    ids = {request.path: request.headers["ce-id"] for request in first_try}
    assert all(ids[request.path] == request.headers["ce-id"] for request in redelivery)  # the same events again


def test_after_commit_actions_run_once_and_only_for_a_committed_transaction(client: FlaskClient) -> None:
    probe.COMMITTED.clear()
    assert post_event(client, REQUESTED, probe.payment("pay_t", metadata={"behaviour": "transient"})).status_code == 503
    assert post_event(client, REQUESTED, probe.payment("pay_r", metadata={"behaviour": "reject"})).status_code == 422
    for _ in range(2):
        assert post_event(client, REQUESTED, probe.payment("pay_ok"), event_id="evt-commit").status_code == 200
    assert probe.COMMITTED == ["pay_ok"]


# ---- idempotency, ids, tracing ------------------------------------------------------------------


def test_redelivered_event_changes_nothing_and_gets_the_same_reply(client: FlaskClient, store: Store,
                                                                    publisher: MemoryPublisher) -> None:
    first = post_event(client, REQUESTED, probe.payment(), event_id="evt-dup", source="/producer")
    again = post_event(client, REQUESTED, probe.payment(), event_id="evt-dup", source="/producer")
    assert first.status_code == again.status_code == 200
    assert first.data == again.data
    assert dict(first.headers) == dict(again.headers)
    assert len(probe.rows(store)) == 1
    # The stored outputs are re-published, identical, so a lost first publish is repaired.
    assert [event.to_structured() for event in publisher.events[2:]] == \
        [event.to_structured() for event in publisher.events[:2]]


def test_same_id_from_another_source_is_a_different_event(client: FlaskClient, store: Store) -> None:
    post_event(client, REQUESTED, probe.payment("pay_a"), event_id="evt-x", source="/one")
    post_event(client, REQUESTED, probe.payment("pay_b"), event_id="evt-x", source="/two")
    assert sorted(row.payment_id for row in probe.rows(store)) == ["pay_a", "pay_b"]


def test_output_ids_are_deterministic_across_redelivery_and_instances(store: Store, tmp_path: Path) -> None:
    expected = output_id("/p", "evt-id", "payments.payment-failed", 0)
    first = post_event(flask_client(build_app(probe.spec(), store)), REQUESTED, probe.payment(),
                       event_id="evt-id", source="/p")
    assert first.headers["ce-id"] == expected
    # A second instance with its own store (the first's record lost) still derives the same id.
    (tmp_path / "other").mkdir()
    for other_store in probe.probe_store(tmp_path / "other"):
        again = post_event(flask_client(build_app(probe.spec(), other_store)), REQUESTED, probe.payment(),
                           event_id="evt-id", source="/p")
        assert again.headers["ce-id"] == expected
    assert output_id("/p", "evt-id", "payments.payment-failed", 1) != expected


def test_traceparent_and_correlation_id_propagate_to_every_output(client: FlaskClient,
                                                                  publisher: MemoryPublisher) -> None:
    response = post_event(client, REQUESTED, probe.payment(), traceparent=TRACE, correlationid="order-42")
    assert response.status_code == 200
    for event in publisher.events:
        trace_id = event.attributes["traceparent"].split("-")[1]
        span_id = event.attributes["traceparent"].split("-")[2]
        assert trace_id == TRACE.split("-")[1]
        assert span_id != TRACE.split("-")[2]
        assert event.attributes["correlationid"] == "order-42"
    audit = publisher.of_type("audit.payment-events")[0]
    assert audit.data is not None and audit.data["correlationId"] == "order-42"


def test_traceparent_http_header_is_used_when_the_event_has_none(client: FlaskClient,
                                                                 publisher: MemoryPublisher) -> None:
    headers = binary_headers(REQUESTED)
    headers["traceparent"] = TRACE
    client.post("/", data=dumps(probe.payment()), headers=headers)
    assert publisher.events[0].attributes["traceparent"].split("-")[1] == TRACE.split("-")[1]


def test_correlation_id_defaults_to_the_input_event_id(client: FlaskClient, publisher: MemoryPublisher) -> None:
    post_event(client, REQUESTED, probe.payment(), event_id="evt-corr")
    assert {event.attributes["correlationid"] for event in publisher.events} == {"evt-corr"}


# ---- probes ------------------------------------------------------------------------------------


def test_health_live_ready_and_metrics(client: FlaskClient) -> None:
    post_event(client, REQUESTED, probe.payment())
    assert client.get("/health").status_code == 200
    assert client.get("/live").status_code == 200
    assert reply_json(client.get("/ready")) == {"ready": True, "checks": {"store": True, "publisher": True},
                                               "publisher": "memory",
                                               "auth": "off (PAYMESH_AUTH_ISSUER is not set)"}
    metrics = client.get("/metrics").data.decode()
    assert 'paymesh_events_handled_total{function="probe",outcome="handled",type="payments.payment-requested"}' \
        in metrics


def test_unknown_route_is_404_json(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert reply_json(response)["error"] == "not_found"


def test_sink_env_names_are_derived_from_topics() -> None:
    assert sink_env_name("payments.payment-processed") == "PAYMESH_SINK_PAYMENTS_PAYMENT_PROCESSED"


def test_one_json_log_line_per_event_with_id_type_correlation_outcome_and_duration(
        client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from shared.observability import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO")
    try:
        post_event(client, REQUESTED, probe.payment(), event_id="evt-log", correlationid="corr-log")
        post_event(client, REQUESTED, probe.payment(), event_id="evt-log", correlationid="corr-log")
    finally:
        root.handlers, root.level = saved[0], saved[1]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"event handled"' in line]
    assert [line["outcome"] for line in lines] == ["handled", "duplicate"]
    for line in lines:
        assert (line["event_id"], line["event_type"], line["correlation_id"]) == \
            ("evt-log", REQUESTED, "corr-log")
        assert line["duration_ms"] >= 0


def test_binary_attributes_are_percent_decoded_in_and_encoded_out(client: FlaskClient,
                                                                   publisher: MemoryPublisher) -> None:
    response = post_event(client, REQUESTED, probe.payment(), event_id="id%20with%20space",
                          correlationid="caf%C3%A9%22order%22")
    assert response.status_code == 200
    assert publisher.events[0].attributes["correlationid"] == 'café"order"'
    assert publisher.events[0].attributes["causationid"] == "id with space"
    assert response.headers["ce-correlationid"] == "caf%C3%A9%22order%22"
    assert response.headers["ce-causationid"] == "id%20with%20space"


def test_attribute_that_is_not_utf8_after_decoding_is_400(client: FlaskClient) -> None:
    response = post_event(client, REQUESTED, probe.payment(), event_id="bad%FF")
    assert response.status_code == 400
    assert reply_json(response)["rule"] == "percent_encoding"


# ---- a batch in one transaction ----------------------------------------------------------------


def test_a_batch_transaction_stores_all_its_events_or_none(store: Store, publisher: MemoryPublisher) -> None:
    spec = probe.spec()
    spec.batch_transaction = True
    closed: list[int] = []
    handler = spec.handlers[REQUESTED]

    def counting(ctx: Any, data: Any) -> Any:
        if not ctx.scratch:
            ctx.scratch["events"] = 0
            ctx.before_commit(lambda: closed.append(ctx.scratch["events"]))
        ctx.scratch["events"] += 1
        return handler(ctx, data)

    spec.handlers[REQUESTED] = counting
    client = flask_client(build_app(spec, store, RuntimeSettings(), publisher))

    def batch(*payments: dict[str, object]) -> Any:
        items = [structured(REQUESTED, payment, event_id=str(payment["paymentId"])) for payment in payments]
        return client.post("/", data=dumps(items), headers={"Content-Type": "application/cloudevents-batch+json"})

    refused = batch(probe.payment("pay_1"), probe.payment("pay_2", metadata={"behaviour": "reject"}))
    assert refused.status_code == 422 and reply_json(refused)["field"] == "[1].data.merchantId"
    assert probe.rows(store) == [] and closed == [] and publisher.events == []

    accepted = batch(probe.payment("pay_1"), probe.payment("pay_3"), probe.payment("pay_1"))
    assert accepted.status_code == 200
    assert sorted(row.payment_id for row in probe.rows(store)) == ["pay_1", "pay_3"]
    assert closed == [2]  # once per transaction, after its last event; the repeated pay_1 is a duplicate
    assert [item["subject"] for item in reply_json(accepted)] == ["pay_1", "pay_3", "pay_1"]
