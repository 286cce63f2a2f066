"""Read records as they land on topics: the live per-topic view and the demo's outcome collection."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Seen:
    """A record read back as a CloudEvent (binary Kafka binding)."""

    topic: str
    attributes: dict[str, str]
    data: Any

    @classmethod
    def from_record(cls, record: Any) -> Seen:
        attributes = {name[3:]: value.decode("utf-8", "replace") for name, value in record.headers or []
                      if name.startswith("ce_")}
        try:
            data = json.loads(record.value) if record.value else None
        except ValueError:
            data = None
        return cls(record.topic, attributes, data)


class TopicReader:
    """Every record appended to `topics` after construction (assigned partitions, no consumer group)."""

    def __init__(self, bootstrap: str, topics: Iterable[str]) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False,
                                       client_id="paymesh-watch")
        partitions = [TopicPartition(topic, partition) for topic in topics
                      for partition in sorted(self._consumer.partitions_for_topic(topic) or ())]
        self._consumer.assign(partitions)
        self._consumer.seek_to_end(*partitions)
        for partition in partitions:
            self._consumer.position(partition)  # resolve "end" now, so what comes later is read

    def poll(self, timeout_ms: int = 200) -> list[Seen]:
        batches = self._consumer.poll(timeout_ms=timeout_ms)
        return [Seen.from_record(record) for records in batches.values() for record in records]

    def read_until(self, done: Callable[[list[Seen]], bool], timeout: float) -> list[Seen]:
        seen: list[Seen] = []
        deadline = time.monotonic() + timeout
        while not done(seen) and time.monotonic() < deadline:
            seen.extend(self.poll())
        return seen

    def close(self) -> None:
        self._consumer.close()


class TopicWatcher:
    """A background TopicReader counting records per topic, for the live view."""

    def __init__(self, bootstrap: str, topics: Iterable[str]) -> None:
        self.counts: Counter[str] = Counter()
        self.last: dict[str, str] = {}
        self._reader = TopicReader(bootstrap, topics)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="topic-watcher", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for seen in self._reader.poll():
                    with self._lock:
                        self.counts[seen.topic] += 1
                        self.last[seen.topic] = seen.attributes.get("subject") or seen.attributes.get("id", "")
        finally:
            self._reader.close()

    def snapshot(self) -> tuple[dict[str, int], dict[str, str]]:
        with self._lock:
            return dict(self.counts), dict(self.last)

    def start(self) -> TopicWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
