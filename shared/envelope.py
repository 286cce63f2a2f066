"""The CloudEvent as paymesh moves it around: attributes plus JSON data, convertible to every binding.

Outputs are kept in structured form (a plain dict) so they can be stored with the idempotency
record and re-published byte for byte; conversion to the HTTP and Kafka bindings uses the SDK.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

from cloudevents.http import CloudEvent
from cloudevents.kafka import to_binary as to_kafka_binary

REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
# HTTP binding: ce-* values percent-encode space, double quote, percent and all but printable ASCII.
_HEADER_SAFE = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) not in '"%')
_PLAIN_HEADER = re.compile(r"[!#-$&-~]*")


def encode_header(value: str) -> str:
    return quote(value, safe=_HEADER_SAFE)


def _encode_header_value(value: str) -> str:
    # Most values need no escaping; quote() is only paid for those that do.
    return value if _PLAIN_HEADER.fullmatch(value) else encode_header(value)


def decode_header(value: str) -> str:
    return unquote(value, errors="strict")


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        # Numbers the runtime decoded exactly go back out as their exact text.
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass(frozen=True, slots=True)
class Envelope:
    attributes: dict[str, str]
    data: dict[str, Any] | None = field(default=None)

    @property
    def id(self) -> str:
        return self.attributes["id"]

    @property
    def type(self) -> str:
        return self.attributes["type"]

    @property
    def source(self) -> str:
        return self.attributes["source"]

    @property
    def topic(self) -> str:
        return self.type

    @property
    def partition_key(self) -> str | None:
        return self.attributes.get("partitionkey")

    def to_structured(self) -> dict[str, Any]:
        structured: dict[str, Any] = dict(self.attributes)
        if self.data is not None:
            structured["data"] = self.data
        return structured

    @classmethod
    def from_structured(cls, structured: dict[str, Any]) -> Envelope:
        attributes = {key: str(value) for key, value in structured.items() if key != "data"}
        return cls(attributes, structured.get("data"))

    def _sdk_event(self) -> Any:
        return CloudEvent(dict(self.attributes), self.data)

    def http_binary(self) -> tuple[dict[str, str], bytes]:
        # What the SDK's to_binary writes (content-type from datacontenttype, ce-<name> for the rest),
        # built directly: the SDK round trip cost more than the rest of publishing an event.
        headers: dict[str, str] = {}
        content_type = self.attributes.get("datacontenttype")
        if content_type:
            headers["content-type"] = content_type
        for name, value in self.attributes.items():
            if name != "datacontenttype":
                headers["ce-" + name] = _encode_header_value(value)
        return headers, dumps(self.data)

    def kafka_binary(self) -> tuple[list[tuple[str, bytes]], bytes | None, bytes]:
        message = to_kafka_binary(
            self._sdk_event(),
            data_marshaller=dumps,
            key_mapper=lambda event: event.get("partitionkey"),
        )
        headers = [(name, value if isinstance(value, bytes) else str(value).encode())
                   for name, value in message.headers.items()]
        key = message.key.encode() if isinstance(message.key, str) else message.key
        value = message.value.encode() if isinstance(message.value, str) else message.value
        return headers, key, value
