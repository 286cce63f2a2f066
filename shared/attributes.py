"""Limits on CloudEvents attributes, checked in ingress before any handler runs.

They follow the columns the attributes end up in: (source, id) is the idempotency key (512 characters
each in processed_events), the id is also the fallback correlation id and the source the actor of
audit events (200 each in the audit log), the type is stored in 128. The attributes paymesh reads are
printable text (a control or format character in an id would travel into logs, headers and the audit
chain); any other extension may be any text without NUL or lone surrogates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.errors import EventError
from shared.times import parse_rfc3339

ATTRIBUTES_MAX = 64
ATTRIBUTE_MAX_CHARS: dict[str, int] = {
    "specversion": 8,
    "id": 200,
    "source": 200,
    "type": 128,
    "subject": 200,
    "time": 64,
    "datacontenttype": 128,
    "dataschema": 2048,
    "partitionkey": 200,
    "correlationid": 200,
    "causationid": 200,
    "traceparent": 64,
    "tracestate": 512,
}
EXTENSION_MAX_CHARS = 4096
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse(field: str, rule: str, message: str) -> EventError:
    return EventError.field(400, "malformed_cloudevent", field, rule, message)


def check_attribute_values(attributes: Mapping[str, Any], prefix: str) -> None:
    """400 naming the attribute whose value is too long, not printable, or (time) not a bounded RFC 3339 time."""
    names = [name for name in attributes if name not in {"data", "data_base64"}]
    if len(names) > ATTRIBUTES_MAX:
        raise _refuse(prefix.rstrip(".-") or "headers", "max_attributes",
                      f"a CloudEvent carries at most {ATTRIBUTES_MAX} attributes")
    for name in names:
        text = str(attributes[name])
        limit = ATTRIBUTE_MAX_CHARS.get(name, EXTENSION_MAX_CHARS)
        if len(text) > limit:
            raise _refuse(prefix + name, "max_length", f"attribute {name!r} is at most {limit} characters")
        if name in ATTRIBUTE_MAX_CHARS and not text.isprintable():
            raise _refuse(prefix + name, "printable",
                          f"attribute {name!r} must be printable text (no control or format characters)")
        if _UNSTORABLE.search(text):
            # Other extensions (e.g. a Kafka record header KafkaSource passes on) may be any text but these.
            raise _refuse(prefix + name, "text", f"attribute {name!r} must not hold NUL or lone surrogates")
    time = attributes.get("time")
    if time is not None:
        try:
            parse_rfc3339(str(time))
        except ValueError as error:
            raise _refuse(prefix + "time", getattr(error, "rule", "datetime"),
                          f"attribute 'time' must be an RFC 3339 time between 1970 and 9000: {error}") from None
