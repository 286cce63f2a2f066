"""What the local KafkaSource dispatcher does without a broker: record -> CloudEvent, retry policy, topology."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from paymesh.local.dispatcher import Outcome, Sender, error_extensions, record_to_event, retryable
from paymesh.local.topology import Delivery, KafkaSource, iso_seconds, load
from shared.events import CATALOG, PROVIDER_REPORTED_TYPES, dead_letter_topic
from tests.support.http_recorder import recording_server

ROOT = Path(__file__).resolve().parents[2]
SOURCE = KafkaSource(name="payments-source", namespace="paymesh", topics=("payments.payment-requested",),
                     consumer_group="g", initial_offset="earliest", ordering="ordered", delivery=Delivery(),
                     sink="payments")


@dataclass
class Record:
    topic: str = "payments.payment-requested"
    partition: int = 2
    offset: int = 41
    timestamp: int = 1_764_000_000_123
    key: bytes | None = b"pay_1"
    value: bytes = b'{"paymentId": "pay_1"}'
    headers: list[tuple[str, bytes]] | None = None


def test_a_plain_record_becomes_dev_knative_kafka_event() -> None:
    event = record_to_event(Record(headers=[("content-type", b"application/json"), ("X-Request-ID", b"r-1")]),
                            SOURCE)
    assert event.attributes == {
        "specversion": "1.0", "type": "dev.knative.kafka.event",
        "source": "/apis/v1/namespaces/paymesh/kafkasources/payments-source#payments.payment-requested",
        "subject": "partition:2#41", "id": "partition:2/offset:41", "time": "2025-11-24T16:00:00.123Z",
        "key": "pay_1", "partitionkey": "pay_1", "kafkaheaderxrequestid": "r-1",
    }
    assert event.content_type == "application/json"
    headers, body = event.http_binary()
    assert headers["Content-Type"] == "application/json" and "ce-datacontenttype" not in headers
    assert body == b'{"paymentId": "pay_1"}'


def test_a_plain_record_without_key_or_content_type_has_neither() -> None:
    event = record_to_event(Record(key=None, headers=None), SOURCE)
    assert "key" not in event.attributes and "partitionkey" not in event.attributes
    assert event.content_type is None and "Content-Type" not in event.http_binary()[0]


def test_a_binary_cloudevent_record_passes_through() -> None:
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"evt-1"), ("ce_source", b"/a b"), ("ce_type", b"t"),
               ("ce_traceparent", b"00-abc-def-01"), ("content-type", b"application/json"), ("other", b"x")]
    event = record_to_event(Record(headers=headers), SOURCE)
    assert event.attributes == {"specversion": "1.0", "id": "evt-1", "source": "/a b", "type": "t",
                                "traceparent": "00-abc-def-01"}
    http_headers, _ = event.http_binary()
    assert http_headers["ce-source"] == "/a%20b"


def test_a_structured_cloudevent_record_is_sent_in_binary_mode() -> None:
    document = {"specversion": "1.0", "id": "evt-2", "source": "/s", "type": "t", "datacontenttype": "application/json",
                "data": {"a": 1}}
    event = record_to_event(Record(headers=[("content-type", b"application/cloudevents+json")],
                                   value=json.dumps(document).encode()), SOURCE)
    headers, body = event.http_binary()
    assert headers["ce-id"] == "evt-2" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"a": 1}


@pytest.mark.parametrize(("status", "expected"), [
    (500, True), (502, True), (503, True), (404, True), (408, True), (409, True), (429, True),
    (400, False), (401, False), (413, False), (415, False), (422, False), (301, False),
])
def test_retryable_statuses_are_knatives(status: int, expected: bool) -> None:
    assert retryable(status) is expected


def test_backoff_follows_the_policy() -> None:
    exponential = Delivery(retry=3, backoff_policy="exponential", backoff_delay=0.5)
    assert [exponential.backoff(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    linear = Delivery(retry=3, backoff_policy="linear", backoff_delay=0.5)
    assert [linear.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 1.5]


def test_delivery_defaults_apply_only_without_a_delivery_block() -> None:
    assert (Delivery.from_spec(None).retry, Delivery.from_spec(None).backoff_delay) == (10, 0.3)
    assert Delivery.from_spec({"backoffDelay": "PT1S"}).retry == 0
    assert iso_seconds("PT0.5S") == 0.5 and iso_seconds("PT1M30S") == 90 and iso_seconds("P1DT1H") == 90000
    with pytest.raises(ValueError):
        iso_seconds("5s")


@contextmanager
def _sender(statuses: list[int], retry: int) -> Iterator[tuple[Sender, str, list[int]]]:
    """A Sender against a real loopback server answering `statuses`, then 200; the list fills with what it
    answered when the block ends."""
    with recording_server(default_status=200) as function:
        function.statuses = list(statuses)
        answered: list[int] = []
        with httpx.Client() as client:
            yield Sender(client, Delivery(retry=retry, backoff_delay=0.001)), function.url + "/", answered
        answered.extend(request.status for request in function.requests)


def test_retryable_answers_are_retried_up_to_the_retry_count() -> None:
    with _sender([503, 429, 200], retry=3) as (sender, url, answered):
        outcome = sender.send(url, record_to_event(Record(), SOURCE))
    assert outcome is not None and outcome.ok and answered == [503, 429, 200]
    with _sender([503] * 10, retry=2) as (sender, url, answered):
        outcome = sender.send(url, record_to_event(Record(), SOURCE))
    assert outcome is not None and (outcome.status, outcome.attempts) == (503, 3)


def test_a_non_retryable_answer_is_final_at_once() -> None:
    with _sender([400, 200], retry=5) as (sender, url, answered):
        outcome = sender.send(url, record_to_event(Record(), SOURCE))
    assert outcome is not None and outcome.status == 400 and answered == [400]


def test_error_extensions_carry_destination_code_and_at_most_1_kib_of_body() -> None:
    extensions = error_extensions("http://fn/", Outcome(422, 1, b"x" * 5000))
    assert extensions["knativeerrordest"] == "http://fn/" and extensions["knativeerrorcode"] == "422"
    assert base64.b64decode(extensions["knativeerrordata"]) == b"x" * 1024
    assert error_extensions("http://fn/", Outcome(None, 1, error="ConnectError")) == {"knativeerrordest": "http://fn/"}


def test_the_topology_is_read_from_the_eventing_manifests() -> None:
    topology = load(ROOT / "eventing")
    sources = {source.sink: source for source in topology.sources}
    assert set(sources) == {"payments", "ledger", "notifications", "audit"}
    for function, source in sources.items():
        # audit orders records itself when it integrates them (eventing/audit/kafkasource.yaml)
        assert source.initial_offset == "earliest"
        assert source.ordering == ("unordered" if function == "audit" else "ordered")
        assert source.delivery.retry > 0 and source.delivery.dead_letter_sink == f"{function}-dead-letter"
        sink = topology.sink(source.namespace, f"{function}-dead-letter")
        assert sink is not None and sink.topic == dead_letter_topic(function)
        assert all(topic in CATALOG for topic in source.topics)
    # Every catalog type somebody produces has a KafkaSink; clients produce the requests and settlement reports.
    sink_topics = {sink.topic for sink in topology.sinks}
    assert {t for t in CATALOG if not t.endswith(("-requested", ".settlement-reported"))
            and t not in PROVIDER_REPORTED_TYPES} <= sink_topics
