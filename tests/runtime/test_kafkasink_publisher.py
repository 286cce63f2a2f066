"""KafkaSinkPublisher over real HTTP: one POST per event, in order per (topic, key), all or a 503."""

from __future__ import annotations

import pytest

from shared.envelope import Envelope
from shared.errors import TransientError
from shared.publish import KafkaSinkPublisher
from tests.support.http_recorder import recording_server

TOPIC = "ledger.balance-updated"
AUDIT = "audit.ledger-events"


def event(event_id: str, topic: str, key: str) -> Envelope:
    return Envelope({"specversion": "1.0", "id": event_id, "source": "/test", "type": topic,
                     "datacontenttype": "application/json", "partitionkey": key}, {"n": event_id})


def test_every_event_is_posted_and_order_is_kept_per_key() -> None:
    with recording_server(default_status=202) as sink:
        publisher = KafkaSinkPublisher({TOPIC: f"{sink.url}/paymesh/balance", AUDIT: f"{sink.url}/paymesh/audit"})
        events = [event(f"a{n}", TOPIC, "acct:a") for n in range(5)] + \
                 [event(f"b{n}", TOPIC, "acct:b") for n in range(5)] + [event("x", AUDIT, "t1")]
        publisher.publish(events)
        publisher.close()
    ids = [request.headers["ce-id"] for request in sink.requests]
    assert sorted(ids) == sorted(item.id for item in events)
    assert [i for i in ids if i.startswith("a")] == [f"a{n}" for n in range(5)]
    assert [i for i in ids if i.startswith("b")] == [f"b{n}" for n in range(5)]
    paths = {request.headers["ce-id"]: request.path for request in sink.requests}
    assert paths["x"] == "/paymesh/audit" and paths["a0"] == "/paymesh/balance"


def test_any_refused_event_makes_the_whole_publish_transient() -> None:
    with recording_server(default_status=202) as sink:
        sink.statuses = [202, 500]
        publisher = KafkaSinkPublisher({TOPIC: f"{sink.url}/paymesh/balance"})
        with pytest.raises(TransientError, match="500"):
            publisher.publish([event("a", TOPIC, "k1"), event("b", TOPIC, "k1")])
        publisher.close()


def test_a_topic_without_a_sink_is_refused_before_anything_is_sent() -> None:
    with recording_server(default_status=202) as sink:
        publisher = KafkaSinkPublisher({TOPIC: f"{sink.url}/paymesh/balance"})
        with pytest.raises(TransientError, match="PAYMESH_SINK_AUDIT_LEDGER_EVENTS"):
            publisher.publish([event("a", TOPIC, "k1"), event("b", AUDIT, "k2")])
    assert sink.requests == []
