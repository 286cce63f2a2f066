"""Partitions per topic, for the embedded broker and the Strimzi topics alike (docs/capacity.md).

A KafkaSource with `ordering: ordered` delivers one record at a time per partition and waits for its
answer, so one topic moves at most partitions / delivery latency records per second. The topics every
payment flow crosses get the partitions; the rest keep the minimum that still spreads over 3 brokers.
"""

from __future__ import annotations

MINIMUM = 3
FLOW = 12

# The topics every payment flow crosses. A payment's events (key: payment id) must reach the ledger and
# notifications in the order they happened: per-key order, which ordered delivery keeps per partition.
# The audit topics carry about five records per flow; audit's sources are unordered (the log orders its
# records itself), and partitions still spread them over consumers. Order across keys is not needed
# anywhere, so partitions scale them all.
FLOW_TOPICS = frozenset({
    "payments.payment-requested",
    "payments.payment-processed",
    "audit.payment-events",
    "audit.ledger-events",
    "audit.notification-events",
})


def partitions_for(topic: str) -> int:
    return FLOW if topic in FLOW_TOPICS else MINIMUM
