"""The eventing engine on the embedded broker against a scripted function: what Knative's KafkaSource and
KafkaSink would do with the same records and requests."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from paymesh.local.broker import Broker, create_topics, free_port
from paymesh.local.engine import Engine
from paymesh.local.sink_ingress import SinkIngress
from paymesh.local.topology import Delivery, KafkaSink, KafkaSource, Topology
from tests.support.kafka import produce, read_until, wait_for
from tests.support.scripted_function import ScriptedFunction, scripted_function

pytestmark = pytest.mark.broker

IN, OUT, DEAD = "e2e.in", "e2e.out", "e2e.dead-letter"


@dataclass
class Running:
    engine: Engine
    function: ScriptedFunction
    bootstrap: str
    source: KafkaSource


@pytest.fixture(scope="module")
def running(broker: Broker) -> Iterator[Running]:
    create_topics(broker.bootstrap, [IN, OUT, DEAD])
    source = KafkaSource(name="e2e-source", namespace="paymesh", topics=(IN,),
                         consumer_group=f"e2e-{uuid.uuid4().hex[:8]}", initial_offset="earliest", ordering="ordered",
                         delivery=Delivery(retry=3, backoff_delay=0.05, timeout=5, dead_letter_sink="e2e-dead-letter"),
                         sink="scripted")
    topology = Topology((source,), (KafkaSink("e2e-out", "paymesh", OUT), KafkaSink("e2e-dead-letter", "paymesh", DEAD)))
    with scripted_function() as function:
        engine = Engine(topology, broker.bootstrap)
        engine.start_ingress()
        assert engine.start_dispatchers({"scripted": function.url}, ready_timeout=30)
        yield Running(engine, function, broker.bootstrap, source)
        engine.stop_dispatchers()
        engine.stop_ingress()


def deliveries_of(function: ScriptedFunction, marker: str) -> list:
    return [d for d in function.deliveries if marker.encode() in d.body]


def test_plain_json_record_becomes_a_kafka_event(running: Running) -> None:
    marker = uuid.uuid4().hex
    body = json.dumps({"paymentId": marker}).encode()
    meta = produce(running.bootstrap, IN, body, key=b"pay_9", headers=[("content-type", b"application/json"),
                                                                         ("X-Trace_Id", b"abc")])
    assert wait_for(lambda: len(deliveries_of(running.function, marker)) == 1)
    delivery = deliveries_of(running.function, marker)[0]
    ce = delivery.ce
    assert ce["type"] == "dev.knative.kafka.event"
    assert ce["source"] == f"/apis/v1/namespaces/paymesh/kafkasources/e2e-source#{IN}"
    assert ce["id"] == f"partition:{meta.partition}/offset:{meta.offset}"
    assert ce["subject"] == f"partition:{meta.partition}#{meta.offset}"
    assert (ce["key"], ce["partitionkey"], ce["kafkaheaderxtraceid"]) == ("pay_9", "pay_9", "abc")
    assert ce["time"].endswith("Z")
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["Prefer"] == "reply"
    assert delivery.body == body


def test_cloudevent_record_passes_through_unchanged(running: Running) -> None:
    marker = uuid.uuid4().hex
    headers = [("ce_specversion", b"1.0"), ("ce_id", marker.encode()), ("ce_source", b"/seed/api gateway"),
               ("ce_type", b"payments.payment-requested"), ("ce_correlationid", b"corr-7"),
               ("ce_traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
               ("content-type", b"application/json")]
    produce(running.bootstrap, IN, b'{"n": 1}', key=b"k", headers=headers)
    assert wait_for(lambda: any(d.ce.get("id") == marker for d in running.function.deliveries))
    delivery = next(d for d in running.function.deliveries if d.ce.get("id") == marker)
    assert delivery.ce["source"] == "/seed/api%20gateway"  # percent-encoded on HTTP, as the binding requires
    assert (delivery.ce["type"], delivery.ce["correlationid"]) == ("payments.payment-requested", "corr-7")
    assert "partitionkey" not in delivery.ce and "datacontenttype" not in delivery.ce
    assert delivery.headers["traceparent"].startswith("00-4bf92f35")


def test_poison_event_goes_to_the_dead_letter_topic_with_error_extensions(running: Running) -> None:
    marker = uuid.uuid4().hex
    produce(running.bootstrap, IN, json.dumps({"behaviour": "poison", "m": marker}).encode(), key=b"p1")
    records = read_until(running.bootstrap, DEAD, lambda rs: any(marker.encode() in r.value for r in rs))
    record = next(r for r in records if marker.encode() in r.value)
    headers = {name: value.decode() for name, value in record.headers}
    assert headers["ce_type"] == "dev.knative.kafka.event"
    assert headers["ce_knativeerrorcode"] == "422"
    assert headers["ce_knativeerrordest"] == running.function.url
    assert b"invalid_data" in base64.b64decode(headers["ce_knativeerrordata"])
    assert record.key == b"p1"  # the partitionkey extension keys the dead-letter record too
    assert len(deliveries_of(running.function, marker)) == 1  # 422 is not retried


def test_503_twice_then_200_is_redelivered_and_processed_once(running: Running) -> None:
    marker = uuid.uuid4().hex
    retried_before = running.engine.stats.total("retried")
    produce(running.bootstrap, IN, json.dumps({"behaviour": "flaky:2", "m": marker}).encode(), key=b"f1")
    assert wait_for(lambda: any(d.status == 200 for d in deliveries_of(running.function, marker)))
    statuses = [d.status for d in deliveries_of(running.function, marker)]
    assert statuses == [503, 503, 200]
    assert len({d.ce["id"] for d in deliveries_of(running.function, marker)}) == 1
    assert running.engine.stats.total("retried") - retried_before == 2


def test_exhausted_retries_dead_letter_with_the_last_status(running: Running) -> None:
    marker = uuid.uuid4().hex
    produce(running.bootstrap, IN, json.dumps({"behaviour": "flaky:99", "m": marker}).encode())
    records = read_until(running.bootstrap, DEAD, lambda rs: any(marker.encode() in r.value for r in rs))
    record = next(r for r in records if marker.encode() in r.value)
    assert dict(record.headers)["ce_knativeerrorcode"] == b"503"
    assert len(deliveries_of(running.function, marker)) == 1 + 3  # the first try plus delivery.retry


def test_records_of_one_partition_are_delivered_in_order(running: Running) -> None:
    marker = uuid.uuid4().hex
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=running.bootstrap, acks="all")
    for n in range(20):
        producer.send(IN, key=b"same-key", value=json.dumps({"m": marker, "n": n}).encode())
    producer.flush()
    producer.close()
    assert wait_for(lambda: len(deliveries_of(running.function, marker)) == 20)
    assert [json.loads(d.body)["n"] for d in deliveries_of(running.function, marker)] == list(range(20))


def test_offsets_are_committed_after_the_outcome(running: Running) -> None:
    from kafka import KafkaConsumer, TopicPartition

    marker = uuid.uuid4().hex
    meta = produce(running.bootstrap, IN, json.dumps({"m": marker}).encode())
    assert wait_for(lambda: len(deliveries_of(running.function, marker)) == 1)
    consumer = KafkaConsumer(bootstrap_servers=running.bootstrap, group_id=running.source.consumer_group,
                             enable_auto_commit=False)
    try:
        partition = TopicPartition(IN, meta.partition)
        assert wait_for(lambda: (consumer.committed(partition) or 0) >= meta.offset + 1, timeout=5)
    finally:
        consumer.close()


def test_kafka_sink_ingress_produces_a_binary_record_keyed_by_partitionkey(running: Running) -> None:
    assert running.engine.ingress is not None
    url = running.engine.sink_urls()["e2e-out"]
    marker = uuid.uuid4().hex
    response = httpx.post(url, content=json.dumps({"m": marker}).encode(), headers={
        "ce-specversion": "1.0", "ce-id": marker, "ce-source": "/paymesh/payments", "ce-type": "payments.payment-processed",
        "ce-partitionkey": "pay_42", "ce-subject": "pay%2042", "Content-Type": "application/json"})
    assert response.status_code == 202
    records = read_until(running.bootstrap, OUT, lambda rs: any(marker.encode() in r.value for r in rs))
    record = next(r for r in records if marker.encode() in r.value)
    headers = dict(record.headers)
    assert record.key == b"pay_42"
    assert (headers["ce_id"], headers["ce_subject"]) == (marker.encode(), b"pay 42")
    assert headers["content-type"] == b"application/json"
    assert "ce_datacontenttype" not in headers
    assert json.loads(record.value) == {"m": marker}


def test_kafka_sink_ingress_takes_structured_events_and_refuses_the_rest(running: Running) -> None:
    url = running.engine.sink_urls()["e2e-out"]
    marker = uuid.uuid4().hex
    structured = {"specversion": "1.0", "id": marker, "source": "/s", "type": "t", "partitionkey": "k1",
                  "datacontenttype": "application/json", "data": {"m": marker}}
    assert httpx.post(url, json=structured, headers={"Content-Type": "application/cloudevents+json"}).status_code == 202
    records = read_until(running.bootstrap, OUT, lambda rs: any(marker.encode() in r.value for r in rs))
    record = next(r for r in records if marker.encode() in r.value)
    assert record.key == b"k1" and dict(record.headers)["ce_id"] == marker.encode()
    assert json.loads(record.value) == {"m": marker}
    base = running.engine.ingress.base_url if running.engine.ingress else ""
    assert httpx.post(base + "/paymesh/no-such-sink", content=b"{}").status_code == 404
    assert httpx.post(url, content=b"{}", headers={"Content-Type": "application/json"}).status_code == 400
    assert httpx.get(url).status_code == 405


def test_kafka_sink_ingress_answers_503_when_the_broker_is_down() -> None:
    sink = KafkaSink("down", "paymesh", OUT)
    ingress = SinkIngress([sink], f"127.0.0.1:{free_port()}", produce_timeout=1.0).start()
    try:
        response = httpx.post(ingress.url(sink), content=b"{}", timeout=10, headers={
            "ce-specversion": "1.0", "ce-id": "x", "ce-source": "/s", "ce-type": "t", "Content-Type": "application/json"})
        assert response.status_code == 503
    finally:
        ingress.stop()


def test_stopping_lets_the_in_flight_delivery_finish_and_commits_it(broker: Broker) -> None:
    from kafka import KafkaConsumer, TopicPartition

    topic = "e2e.slow"
    create_topics(broker.bootstrap, [topic, DEAD])
    group = f"e2e-slow-{uuid.uuid4().hex[:8]}"
    source = KafkaSource(name="slow-source", namespace="paymesh", topics=(topic,), consumer_group=group,
                         initial_offset="earliest", ordering="ordered",
                         delivery=Delivery(retry=1, backoff_delay=0.05, timeout=10, dead_letter_sink="e2e-dead-letter"),
                         sink="scripted")
    topology = Topology((source,), (KafkaSink("e2e-dead-letter", "paymesh", DEAD),))
    with scripted_function() as function:
        engine = Engine(topology, broker.bootstrap)
        engine.start_ingress()
        assert engine.start_dispatchers({"scripted": function.url}, ready_timeout=30)
        meta = produce(broker.bootstrap, topic, json.dumps({"behaviour": "slow:1.5"}).encode())
        assert wait_for(lambda: function.seen)  # the delivery is in flight
        engine.stop_dispatchers()
        engine.stop_ingress()
        assert [d.status for d in function.deliveries] == [200]
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        assert consumer.committed(TopicPartition(topic, meta.partition)) == meta.offset + 1
    finally:
        consumer.close()
