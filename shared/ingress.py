"""Turn an HTTP request into CloudEvents: binary, structured and batch content modes.

Every way a request can be malformed ends in an EventError naming the field and the rule, so the
runtime answers 4xx (dead-lettered, never retried) instead of failing with a 5xx.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudevents.exceptions import GenericException
from cloudevents.http import from_dict

from shared.attributes import check_attribute_values
from shared.cards import mask_pans
from shared.envelope import REQUIRED_ATTRIBUTES, decode_header
from shared.errors import EventError
from shared.limits import number_problem

MAX_JSON_DEPTH = 32
KAFKA_EVENT_TYPE = "dev.knative.kafka.event"
_KAFKA_SOURCE = re.compile(r"^/apis/v1/namespaces/[^/]+/kafkasources/[^/#]+#(?P<topic>.+)$")
# The spec says names SHOULD NOT exceed 20 characters; Knative's Kafka source exceeds it with
# `kafkaheader<name>` extensions for record headers, so longer names are accepted, up to a bound.
_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,100}$")
# NUL cannot be stored in PostgreSQL text; a lone surrogate cannot be encoded as UTF-8 at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Incoming:
    attributes: dict[str, str]
    data: Any
    field_prefix: str = ""


def content_mode(content_type: str | None) -> str:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime.startswith("application/cloudevents-batch"):
        return "batch"
    if mime.startswith("application/cloudevents"):
        return "structured"
    return "binary"


def parse(headers: Mapping[str, str], body: bytes, max_batch: int) -> list[Incoming]:
    mode = content_mode(headers.get("Content-Type"))
    if mode == "batch":
        items = _load_json(body, "body")
        if not isinstance(items, list):
            raise EventError.field(400, "malformed_batch", "body", "array", "a batch must be a JSON array")
        if not items:
            raise EventError.field(400, "malformed_batch", "body", "non_empty", "a batch must not be empty")
        if len(items) > max_batch:
            raise EventError.field(413, "batch_too_large", "body", "max_items",
                                   f"a batch holds at most {max_batch} events")
        return [_structured(item, f"[{index}].") for index, item in enumerate(items)]
    if mode == "structured":
        return [_structured(_load_json(body, "body"), "")]
    return [_binary(headers, body)]


def _load_json(raw: bytes | str, field: str) -> Any:
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except RecursionError:
        raise EventError.field(400, "malformed_json", field, "max_depth", "JSON nests too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise EventError.field(400, "malformed_json", field, "json", f"not valid UTF-8 JSON: {error}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise EventError.field(400, "malformed_json", field, "max_depth",
                               f"JSON nests deeper than {MAX_JSON_DEPTH} levels")
    _check_values(value, field)
    return value


def _check_values(value: Any, field: str) -> None:
    """Every string is storable text (no NUL, no lone surrogate) and every number fits: integers 63 bits,
    decimals finite and modest. Checked once for the whole document, before any model or handler."""
    # A node's path is (parent entry, key): spelled out only for an error, never per node.
    stack: list[tuple[Any, Any, str]] = [(value, None, field)]
    while stack:
        entry = stack.pop()
        node = entry[0]
        if isinstance(node, dict):
            for key, child in node.items():
                if _UNSTORABLE.search(key):
                    raise EventError.field(400, "malformed_json", _path(entry), "text",
                                           "keys must not hold NUL or lone surrogate characters")
                stack.append((child, entry, key))
        elif isinstance(node, list):
            stack.extend((child, entry, str(index)) for index, child in enumerate(node))
        elif isinstance(node, str):
            if _UNSTORABLE.search(node):
                raise EventError.field(400, "malformed_json", _path(entry), "text",
                                       "strings must not hold NUL or lone surrogate characters")
        else:
            problem = number_problem(node)
            if problem is not None:
                raise EventError.field(400, "malformed_json", _path(entry), "number_range", problem)


def _path(entry: tuple[Any, Any, str]) -> str:
    names: list[str] = []
    current: tuple[Any, Any, str] | None = entry
    while current is not None:
        _, parent, name = current
        # A key is named in the error: never echo a card number used as one.
        names.append(name if parent is None else mask_pans(name))
        current = parent
    return ".".join(reversed(names))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _check_attributes(attributes: Mapping[str, Any], prefix: str) -> None:
    for name in REQUIRED_ATTRIBUTES:
        value = attributes.get(name)
        if not isinstance(value, str) or not value.strip():
            raise EventError.field(400, "malformed_cloudevent", prefix + name, "required",
                                   f"CloudEvent attribute {name!r} is required and must be a non-empty string")
    if attributes["specversion"] != "1.0":
        raise EventError.field(400, "malformed_cloudevent", prefix + "specversion", "supported",
                               "only CloudEvents specversion 1.0 is supported")
    for name, value in attributes.items():
        if name in {"data", "data_base64"}:
            continue
        if not _ATTRIBUTE_NAME.fullmatch(name):
            raise EventError.field(400, "malformed_cloudevent", prefix + name, "attribute_name",
                                   "attribute names are 1-100 lowercase letters or digits")
        if not isinstance(value, str | int | bool) or len(str(value)) > 4096:
            raise EventError.field(400, "malformed_cloudevent", prefix + name, "attribute_value",
                                   "attribute values are strings, integers or booleans up to 4096 characters")
    check_attribute_values(attributes, prefix)


def _structured(document: Any, prefix: str) -> Incoming:
    if not isinstance(document, dict):
        raise EventError.field(400, "malformed_cloudevent", prefix.rstrip(".") or "body", "object",
                               "a structured CloudEvent is a JSON object")
    _check_attributes(document, prefix)
    if "data" in document and "data_base64" in document:
        raise EventError.field(400, "malformed_cloudevent", prefix + "data_base64", "exclusive",
                               "give data or data_base64, not both")
    try:
        event = from_dict({key: value for key, value in document.items() if key != "data_base64"})
    except GenericException as error:
        raise EventError.field(400, "malformed_cloudevent", prefix.rstrip(".") or "body", "cloudevent",
                               str(error)) from None
    attributes = {key: str(value) for key, value in event.get_attributes().items()}
    _keep_only_given(attributes, document)
    data: Any = event.data
    if "data_base64" in document:
        raw = document["data_base64"]
        try:
            decoded = base64.b64decode(raw if isinstance(raw, str) else "", validate=True)
        except (binascii.Error, ValueError):
            raise EventError.field(400, "malformed_cloudevent", prefix + "data_base64", "base64",
                                   "data_base64 is not valid base64") from None
        data = _decode_data(decoded, attributes.get("datacontenttype"), prefix)
    elif isinstance(data, str) and not _is_json(attributes.get("datacontenttype")):
        _require_json_type(attributes.get("datacontenttype"), prefix)
    return Incoming(attributes, data, prefix)


def _binary(raw_headers: Mapping[str, str], body: bytes) -> Incoming:
    headers = dict(raw_headers)
    for key, value in raw_headers.items():
        if key.lower().startswith("ce-"):
            try:
                headers[key] = decode_header(value)
            except UnicodeDecodeError:
                raise EventError.field(400, "malformed_cloudevent", key.lower(), "percent_encoding",
                                       "percent-encoded attribute is not UTF-8") from None
    given = {key.lower()[3:]: value for key, value in headers.items() if key.lower().startswith("ce-")}
    if not given:
        raise EventError.field(400, "not_a_cloudevent", "ce-specversion", "required",
                               "not a CloudEvent: send ce-* headers (binary mode) or "
                               "Content-Type application/cloudevents+json (structured mode)")
    _check_attributes(given, "ce-")
    # The attributes are the ce-* headers as checked above (what the SDK's from_http would build from
    # them, without its cost); datacontenttype is the Content-Type header, never a ce- header.
    attributes = {key: str(value) for key, value in given.items()}
    attributes.pop("datacontenttype", None)
    content_type = headers.get("Content-Type")
    if content_type:
        attributes["datacontenttype"] = content_type
    return Incoming(attributes, _decode_data(body, content_type, "ce-"))


def _keep_only_given(attributes: dict[str, str], given: Mapping[str, Any]) -> None:
    # The SDK fills in time (and would fill id); an attribute the sender left out stays out.
    for name in ("time", "datacontenttype"):
        if given.get(name) is None:
            attributes.pop(name, None)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # KafkaSource leaves it out for records without a content-type header
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime in {"application/json", "text/json"} or mime.endswith("+json")


def _require_json_type(content_type: str | None, prefix: str) -> None:
    if not _is_json(content_type):
        raise EventError.field(415, "unsupported_media_type", prefix + "datacontenttype", "json",
                               f"event data must be JSON, not {content_type}")


def _decode_data(raw: bytes, content_type: str | None, prefix: str) -> Any:
    _require_json_type(content_type, prefix)
    if not raw.strip():
        return None
    return _load_json(raw, "data")


def unwrap_kafka_record(attributes: dict[str, str], known_types: frozenset[str]) -> None:
    """A plain Kafka record that KafkaSource wrapped as dev.knative.kafka.event takes its topic's type."""
    if attributes.get("type") != KAFKA_EVENT_TYPE:
        return
    match = _KAFKA_SOURCE.match(attributes.get("source", ""))
    if match and match.group("topic") in known_types:
        attributes["type"] = match.group("topic")
