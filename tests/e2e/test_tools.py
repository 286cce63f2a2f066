"""The pieces of `paymesh dlq` and `paymesh trace` that need no broker: dead-letter records as the dispatcher
writes them, the delivery journal, and the story tree built from it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from paymesh import dlq
from paymesh.local.journal import Journal, read
from paymesh.trace import collect, render
from shared.config import RuntimeSettings

ERROR = {"error": "invalid_data", "message": "NZD is not accepted", "field": "data.currency",
         "rule": "supported_currency"}


def _record(**attributes: str) -> SimpleNamespace:
    headers = [(f"ce_{name}", value.encode()) for name, value in attributes.items()]
    headers.append(("content-type", b"application/json"))
    return SimpleNamespace(topic="payments.dead-letter", partition=1, offset=7, timestamp=1_796_000_000_000,
                           headers=headers, value=b'{"paymentId": "pay_1"}')


def test_a_dead_letter_reads_back_with_its_reason_and_replays_as_the_original_record() -> None:
    letter = dlq.from_record(_record(
        specversion="1.0", id="evt-1", source="/paymesh/cli", type="payments.payment-requested",
        partitionkey="pay_1", correlationid="corr-1", knativeerrorcode="422",
        knativeerrordata=base64.b64encode(json.dumps(ERROR).encode()).decode(),
        knativeerrordest="http://payments.paymesh.svc.cluster.local/"))
    assert (letter.id, letter.function, letter.event_id) == ("payments.dead-letter/1/7", "payments", "evt-1")
    assert letter.reason == "invalid_data data.currency: NZD is not accepted"
    assert letter.original_topic == "payments.payment-requested"
    assert letter.event()["data"] == {"paymentId": "pay_1"}
    headers, key, value = letter.replay_record()
    names = {name for name, _ in headers}
    assert not {"ce_knativeerrorcode", "ce_knativeerrordata", "ce_knativeerrordest"} & names
    assert {"ce_id", "ce_source", "ce_type", "ce_correlationid", "content-type"} <= names
    assert (key, value) == (b"pay_1", b'{"paymentId": "pay_1"}')
    assert dlq.find([letter], "evt-1") is letter and dlq.find([letter], letter.id) is letter
    assert dlq.find([letter], "evt-2") is None


def test_a_plain_record_dead_letter_goes_back_to_the_topic_named_in_its_source() -> None:
    letter = dlq.from_record(_record(
        specversion="1.0", id="partition:0/offset:3", type="dev.knative.kafka.event",
        source="/apis/v1/namespaces/paymesh/kafkasources/payments-source#payments.payment-requested",
        knativeerrorcode="400", knativeerrordata="bm90IGpzb24="))
    assert letter.original_topic == "payments.payment-requested"
    assert letter.reason == "not json"  # not a paymesh error body: the answer as it was


def test_dead_letters_are_read_with_the_functions_sasl_and_tls_settings(tmp_path: Path) -> None:
    settings = RuntimeSettings(kafka_bootstrap_servers="k1:9093,k2:9093", kafka_security_protocol="SASL_SSL",
                               kafka_sasl_username="paymesh-ops", kafka_sasl_password="pw",
                               kafka_ssl_cafile=tmp_path / "ca.crt")
    config = dlq.client_config(settings)
    assert config["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert (config["security_protocol"], config["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (config["sasl_plain_username"], config["ssl_cafile"]) == ("paymesh-ops", str(tmp_path / "ca.crt"))
    assert "acks" not in config and "enable_idempotence" not in config  # producer-only settings stay out
    assert dlq.topics("ledger") == ["ledger.dead-letter"] and len(dlq.topics()) == 4


def _entry(journal: Journal, event_id: str, event_type: str, function: str, outcome: str = "delivered", *,
           causation: str | None = None, status: int = 200, attempts: int = 1, error: str = "") -> None:
    attributes = {"id": event_id, "type": event_type, "source": "/paymesh/payments", "correlationid": "corr-9",
                  "subject": "pay_9", "time": f"2026-11-29T10:00:0{len(event_id)}Z",
                  "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    if causation:
        attributes["causationid"] = causation
    journal.record(source=f"{function}-source", function=function, topic=event_type, partition=0, offset=1,
                   attributes=attributes, outcome=outcome, status=status, attempts=attempts,
                   duration_seconds=0.0123, error=error)


def test_the_story_is_a_tree_by_causation_with_retries_and_dead_letters(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "deliveries.jsonl")
    _entry(journal, "e1", "payments.payment-requested", "payments", "dead_lettered", status=422,
           error=json.dumps(ERROR))
    _entry(journal, "e1", "payments.payment-requested", "payments", attempts=3)
    _entry(journal, "e22", "payments.payment-processed", "ledger", causation="e1")
    _entry(journal, "e333", "audit.ledger-events", "audit", causation="e22")
    with journal.path.open("a") as handle:
        handle.write('{"torn": ')  # a line cut short by a crash is skipped
    entries = list(read(journal.path))
    assert len(entries) == 4 and entries[0]["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    story = collect("pay_9", entries, None)
    assert story.correlation_ids == {"pay_9", "corr-9"}
    [root] = story.roots
    assert [entry["outcome"] for entry in root.deliveries] == ["dead_lettered", "delivered"]
    assert [child.type for child in root.children] == ["payments.payment-processed"]
    assert [child.type for child in root.children[0].children] == ["audit.ledger-events"]
    console = Console(record=True, width=200, emoji=False)
    console.print(render(story))
    text = console.export_text()
    assert "dead-lettered (422)" in text and "NZD is not accepted" in text and "2 retries" in text
    lines = text.splitlines()
    depth = {name: next(line.index(name) for line in lines if name in line)
             for name in ("payments.payment-requested", "payments.payment-processed", "audit.ledger-events")}
    assert depth["payments.payment-requested"] < depth["payments.payment-processed"] < depth["audit.ledger-events"]
    assert collect("pay_other", entries, None).roots == []
