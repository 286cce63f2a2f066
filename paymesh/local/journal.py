"""The local engine's delivery journal: one JSON line per record delivered, dead-lettered or lost, in
$PAYMESH_HOME/deliveries.jsonl, for `paymesh trace` (what Knative's dispatcher would show in its own logs)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

JOURNAL_FILE = "deliveries.jsonl"
ERROR_CHARS_MAX = 300
# The attributes of the delivered event kept in the journal (no data: it may hold personal details).
KEPT_ATTRIBUTES = ("id", "type", "source", "subject", "time", "correlationid", "causationid", "partitionkey")


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, *, source: str, function: str, topic: str, partition: int, offset: int,
               attributes: dict[str, str], outcome: str, status: int | None, attempts: int, duration_seconds: float,
               error: str = "") -> None:
        entry: dict[str, Any] = {
            # when the delivery started (its first attempt)
            "at": (datetime.now(UTC) - timedelta(seconds=duration_seconds)).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "kafkaSource": source, "function": function, "topic": topic, "partition": partition, "offset": offset,
            "event": {name: attributes[name] for name in KEPT_ATTRIBUTES if name in attributes},
            "outcome": outcome, "status": status, "attempts": attempts,
            "durationMs": round(duration_seconds * 1000, 1),
        }
        traceparent = attributes.get("traceparent", "")
        if len(traceparent) == 55:
            entry["traceId"] = traceparent[3:35]
        if error:
            entry["error"] = error[:ERROR_CHARS_MAX]
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)


def read(path: Path) -> Iterator[dict[str, Any]]:
    """Every entry of the journal at `path` (none when it does not exist); torn last lines are skipped."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError:
        return
    with handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry
