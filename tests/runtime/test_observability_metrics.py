"""kafka_messages_total (the seed's common metric, per topic and direction) and paymesh_dead_lettered_total
(refusals Knative dead-letters without retrying), counted by the runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from shared.config import RuntimeSettings
from shared.observability import dead_lettered_status
from shared.publish import MemoryPublisher
from tests.support import binary_headers, build_app, flask_client, post_event
from tests.support import runtime_fixture as probe

REQUESTED = "payments.payment-requested"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    for store in probe.probe_store(tmp_path):
        yield flask_client(build_app(probe.spec(), store, RuntimeSettings(), MemoryPublisher()))


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_kafka_messages_count_each_consumed_and_published_record(client: FlaskClient) -> None:
    before_in = _value("kafka_messages_total", function="probe", topic=REQUESTED, direction="in")
    before_out = _value("kafka_messages_total", function="probe", topic="audit.payment-events", direction="out")
    assert post_event(client, REQUESTED, probe.payment("pay_m1")).status_code == 200
    assert post_event(client, REQUESTED, probe.payment("pay_m2", metadata={"behaviour": "silent"})).status_code == 204
    assert _value("kafka_messages_total", function="probe", topic=REQUESTED, direction="in") == before_in + 2
    assert _value("kafka_messages_total", function="probe", topic="audit.payment-events",
                  direction="out") == before_out + 1


def test_refusals_knative_does_not_retry_count_as_dead_lettered(client: FlaskClient) -> None:
    def dead(event_type: str, status: str) -> float:
        return _value("paymesh_dead_lettered_total", function="probe", type=event_type, status=status)

    rejected, transient, unparsed = dead(REQUESTED, "422"), dead(REQUESTED, "503"), dead("unparsed", "400")
    assert post_event(client, REQUESTED, probe.payment("pay_m3", metadata={"behaviour": "reject"})).status_code == 422
    assert post_event(client, REQUESTED,
                      probe.payment("pay_m4", metadata={"behaviour": "transient"})).status_code == 503
    headers = binary_headers(REQUESTED)
    del headers["ce-id"]
    assert client.post("/", data=b"{}", headers=headers).status_code == 400
    assert dead(REQUESTED, "422") == rejected + 1
    assert dead(REQUESTED, "503") == transient  # retried, not dead-lettered
    assert dead("unparsed", "400") == unparsed + 1


@pytest.mark.parametrize(("status", "dead"), [(400, True), (413, True), (415, True), (422, True), (404, False),
                                              (408, False), (409, False), (429, False), (500, False), (503, False),
                                              (200, False), (204, False)])
def test_which_statuses_knative_dead_letters(status: int, dead: bool) -> None:
    assert dead_lettered_status(status) is dead
