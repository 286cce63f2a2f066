"""Partitions per topic, for the embedded broker and the Strimzi topics alike (docs/capacity.md).

A KafkaSource with `ordering: ordered` delivers one record at a time per partition and waits for its
answer, so one topic moves at most partitions / delivery latency records per second. The topics every
payment flow crosses get the partitions; the rest keep the minimum that still spreads over 3 brokers.
"""

from __future__ import annotations

MINIMUM = 3
FLOW = 12

# Per-key order is what ordered delivery keeps, and all these topics need it: a payment's events (key:
# payment id) must reach the ledger and notifications in the order they happened, and audit records of
# one subject must chain in order. Order across keys is not needed anywhere, so partitions scale them.
FLOW_TOPICS = frozenset({
    "payments.payment-requested",
    "payments.payment-processed",
    "audit.payment-events",
    "audit.ledger-events",
    "audit.notification-events",
})


def partitions_for(topic: str) -> int:
    return FLOW if topic in FLOW_TOPICS else MINIMUM
