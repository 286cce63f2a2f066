"""Dead letters: read the <function>.dead-letter topics, show why each event was refused, and replay events to
their original topic. Works on the local broker or any KAFKA_BOOTSTRAP_SERVERS with the functions' SASL/TLS
settings (shared.config.RuntimeSettings). Replaying is safe: the event keeps its source and id, so a function
that already handled it answers with the stored outcome and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from paymesh.local.broker import FUNCTIONS
from shared.config import RuntimeSettings
from shared.events import CATALOG, dead_letter_topic
from shared.ingress import KAFKA_EVENT_TYPE
from shared.publish import KafkaPublisher

ERROR_EXTENSIONS = ("knativeerrorcode", "knativeerrordata", "knativeerrordest")
_SECURITY_KEYS = ("bootstrap_servers", "security_protocol", "sasl_", "ssl_")


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, read as the CloudEvent the dispatcher sent there."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    attributes: dict[str, str]
    data: bytes
    content_type: str | None

    @property
    def id(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def function(self) -> str:
        return self.topic.removesuffix(".dead-letter")

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def event_id(self) -> str:
        return self.attributes.get("id", "")

    @property
    def type(self) -> str:
        return self.attributes.get("type", "")

    @property
    def error_code(self) -> str:
        return self.attributes.get("knativeerrorcode", "")

    @property
    def error_data(self) -> str:
        """The refusing function's answer (knativeerrordata is base64), as text."""
        raw = self.attributes.get("knativeerrordata", "")
        try:
            return base64.b64decode(raw, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return raw

    @property
    def reason(self) -> str:
        """One line: the error's message (or the code and field) from a paymesh error body."""
        try:
            body = json.loads(self.error_data)
        except ValueError:
            return self.error_data[:200]
        if not isinstance(body, dict):
            return self.error_data[:200]
        parts = [str(body.get(key)) for key in ("error", "field") if body.get(key)]
        message = str(body.get("message", ""))
        return (" ".join(parts) + (f": {message}" if message else ""))[:200]

    @property
    def original_topic(self) -> str:
        """The topic the event came from: its type for catalog events, the source's #topic for plain records."""
        if self.type == KAFKA_EVENT_TYPE:
            return self.attributes.get("source", "").rpartition("#")[2]
        return self.type if self.type in CATALOG else ""

    def event(self) -> dict[str, Any]:
        """The dead-lettered event as structured JSON (data parsed when it is JSON)."""
        try:
            data: Any = json.loads(self.data) if self.data else None
        except ValueError:
            data = self.data.decode("utf-8", "replace")
        return {**self.attributes, "datacontenttype": self.content_type, "data": data}

    def replay_record(self) -> tuple[list[tuple[str, bytes]], bytes | None, bytes]:
        """The original record again: ce_ headers without the dispatcher's error extensions, same key."""
        headers = [(f"ce_{name}", value.encode()) for name, value in self.attributes.items()
                   if name not in ERROR_EXTENSIONS]
        if self.content_type:
            headers.append(("content-type", self.content_type.encode()))
        key = self.attributes.get("partitionkey")
        return headers, key.encode() if key is not None else None, self.data


def from_record(record: Any) -> DeadLetter:
    headers = [(name, value.decode("utf-8", "replace")) for name, value in record.headers or []]
    attributes = {name[3:].lower(): value for name, value in headers if name.lower().startswith("ce_")}
    content_type = attributes.pop("datacontenttype", None) or next(
        (value for name, value in headers if name.lower() == "content-type"), None)
    return DeadLetter(record.topic, record.partition, record.offset, record.timestamp or 0, attributes,
                      record.value or b"", content_type)


def client_config(settings: RuntimeSettings) -> dict[str, Any]:
    """Bootstrap servers and SASL/TLS exactly as the functions' Kafka publisher sets them."""
    config = KafkaPublisher(settings).producer_config()
    return {key: value for key, value in config.items() if key.startswith(_SECURITY_KEYS)}


def topics(function: str | None = None) -> list[str]:
    names = [function] if function else list(FUNCTIONS)
    return [dead_letter_topic(name) for name in names]


def read(settings: RuntimeSettings, topic_names: Iterable[str], since: datetime | None = None,
         timeout_seconds: float = 10.0) -> list[DeadLetter]:
    """Every record now on `topic_names` (from the start, no consumer group: nothing is committed)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(enable_auto_commit=False, client_id="paymesh-dlq", **client_config(settings))
    try:
        partitions = [TopicPartition(topic, partition) for topic in topic_names
                      for partition in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        if since is not None:
            starts = consumer.offsets_for_times({partition: int(since.timestamp() * 1000) for partition in partitions})
            for partition in partitions:
                found = starts.get(partition)
                if found is None:
                    consumer.seek_to_end(partition)
                else:
                    consumer.seek(partition, found.offset)
        else:
            consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found_letters = list(_drain(consumer, partitions, ends, timeout_seconds))
    finally:
        consumer.close()
    return sorted(found_letters, key=lambda letter: (letter.timestamp_ms, letter.id))


def _drain(consumer: Any, partitions: list[Any], ends: dict[Any, int], timeout_seconds: float) -> Iterator[DeadLetter]:
    import time

    deadline = time.monotonic() + timeout_seconds
    while any(consumer.position(partition) < ends[partition] for partition in partitions):
        if time.monotonic() > deadline:
            raise TimeoutError(f"dead-letter topics not read to their end within {timeout_seconds:.0f} s")
        for records in consumer.poll(timeout_ms=200).values():
            for record in records:
                if record.offset < ends[consumer_partition(record)]:
                    yield from_record(record)


def consumer_partition(record: Any) -> Any:
    from kafka import TopicPartition

    return TopicPartition(record.topic, record.partition)


def find(letters: Iterable[DeadLetter], wanted: str) -> DeadLetter | None:
    """By the DLQ id (topic/partition/offset) or by the CloudEvent id (the newest dead letter of it)."""
    matches = [letter for letter in letters if wanted in (letter.id, letter.event_id)]
    return matches[-1] if matches else None


def replay(settings: RuntimeSettings, letters: Iterable[DeadLetter], timeout_seconds: float = 10.0) -> list[str]:
    """Produce each letter's event to its original topic; the topics written, in order."""
    from kafka import KafkaProducer

    chosen = list(letters)
    for letter in chosen:
        if not letter.original_topic:
            raise ValueError(f"{letter.id}: no original topic for type {letter.type!r}")
    producer = KafkaProducer(acks="all", client_id="paymesh-dlq-replay",
                             request_timeout_ms=int(timeout_seconds * 1000), **client_config(settings))
    try:
        futures = []
        for letter in chosen:
            headers, key, value = letter.replay_record()
            futures.append(producer.send(letter.original_topic, key=key, value=value, headers=headers))
        for future in futures:
            future.get(timeout=timeout_seconds)
    finally:
        producer.close(timeout=timeout_seconds)
    return [letter.original_topic for letter in chosen]
