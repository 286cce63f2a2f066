"""JSON logs, Prometheus metrics shared by all functions, and W3C trace context helpers."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram

EVENTS_HANDLED = Counter(
    "paymesh_events_handled_total",
    "CloudEvents handled, by function, type and outcome",
    ["function", "type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "paymesh_handler_duration_seconds",
    "Time from request received to reply, by function and type",
    ["function", "type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_STANDARD_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_ENCODE = json.JSONEncoder(default=str).encode


def log_fast(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """logger.log(level, message, extra=fields) without the caller lookup (a stack walk per line),
    for lines written once per event; the JSON formatter never shows the caller anyway."""
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(logger.name, level, "", 0, message, (), None, extra=fields))


class JsonFormatter(logging.Formatter):
    _second = -1
    _second_text = ""

    def _timestamp(self, created: float) -> str:
        # The same text as datetime.isoformat(timespec="milliseconds"), formatting the date once a second.
        second = int(created)
        if second != self._second:
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_RECORD_KEYS and key[0] != "_":
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _ENCODE(entry)


def configure_logging(level: str = "INFO") -> None:
    # The JSON lines never show the process, thread or process name: not looking them up per record
    # is a third of what a log line costs.
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    root = logging.getLogger()
    if any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent span id, flags) of a valid version-00 traceparent, else None."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2), match.group(3)


def child_traceparent(parent: str | None, seed: str) -> str:
    """A traceparent for work caused by `parent`: same trace, a new span id derived from `seed`.

    Deriving the span id (rather than drawing it) keeps a re-published output byte-identical.
    """
    span = hashlib.sha256(seed.encode()).hexdigest()[:16]
    parsed = parse_traceparent(parent)
    if parsed is None:
        trace = hashlib.sha256(("trace:" + seed).encode()).hexdigest()[:32]
        return f"00-{trace}-{span}-01"
    trace, _, flags = parsed
    return f"00-{trace}-{span}-{flags}"


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


# The seed's common metric: records a function consumed (direction "in", one per delivered event) and
# published (direction "out", once the publisher accepted them), per topic.
KAFKA_MESSAGES = Counter(
    "kafka_messages_total",
    "Kafka records consumed (in) and published (out), by function, topic and direction",
    ["function", "topic", "direction"],
)
# Refusals the Kafka dispatcher does not retry, so the event goes to the function's dead-letter sink.
DEAD_LETTERED = Counter(
    "paymesh_dead_lettered_total",
    "Events answered with a status Knative dead-letters without retrying, by function, type and status",
    ["function", "type", "status"],
)
# Knative's Kafka dispatcher retries these; any other status >= 300 is dead-lettered at once.
RETRIED_STATUSES = frozenset({404, 408, 409, 429})


def dead_lettered_status(status: int) -> bool:
    return 300 <= status < 500 and status not in RETRIED_STATUSES
