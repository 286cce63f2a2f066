"""Counters per topic for the live view of `paymesh up` (and for tests)."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass


@dataclass
class TopicCounts:
    produced: int = 0  # records written through the KafkaSink ingress
    delivered: int = 0  # deliveries answered 2xx
    retried: int = 0  # retry attempts after a retryable answer
    dead_lettered: int = 0  # events sent to a dead-letter sink
    lost: int = 0  # events whose dead-letter delivery failed too (Knative commits and moves on)


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._topics: dict[str, TopicCounts] = defaultdict(TopicCounts)

    def add(self, topic: str, field: str, amount: int = 1) -> None:
        with self._lock:
            counts = self._topics[topic]
            setattr(counts, field, getattr(counts, field) + amount)

    def snapshot(self) -> dict[str, TopicCounts]:
        with self._lock:
            return {topic: TopicCounts(**vars(counts)) for topic, counts in sorted(self._topics.items())}

    def total(self, field: str) -> int:
        with self._lock:
            return sum(getattr(counts, field) for counts in self._topics.values())
