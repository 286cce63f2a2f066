"""Hostile values, and one corruption at a time of a valid event: a field, a key or a CloudEvents attribute.

A value JSON cannot write as a Python object (1e999999 as a number, a 5000-digit integer) travels as a
`Raw` token spliced into the serialized body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from shared.envelope import dumps


@dataclass(frozen=True, slots=True)
class Raw:
    """JSON text put in place of a value as it is."""

    text: str


def _nested(depth: int, leaf: Any, kind: str) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"n": value} if kind == "object" else [value]
    return value


NUMBERS: dict[str, Any] = {
    "exponent_overflow": Raw("1e999999"), "negative_overflow": Raw("-1e999999"), "underflow": Raw("1e-999999"),
    "int_63_bits_plus_one": 2**63, "int_below_63_bits": -(2**63) - 1, "int_64_bits": 2**64, "int_30_digits": 10**30,
    "int_4000_digits": Raw("9" * 4000), "int_5000_digits": Raw("9" * 5000), "double_overflow": Raw("1.8e308"),
    "negative_zero": Raw("-0.0"), "tiny_fraction": Raw("0." + "0" * 40 + "1"), "zero": 0, "minus_one": -1,
    "epoch_ms_huge": 10**20,
}
STRINGS: dict[str, Any] = {
    "empty": "", "space": " ", "long_300": "x" * 300, "long_20k": "y" * 20_000, "long_300k": "z" * 300_000,
    "nul": "\x00", "nul_inside": "a\x00b", "controls": "\x01\x02\x1f\x7f\x9f", "bidi_zero_width": "\u202eab\u200b",
    "lone_surrogate": "\ud800", "arabic_digits": "\u0661\u0662\u0663\u066b\u0664\u0665",
    "fullwidth_digits": "\uff11\uff12.\uff10\uff10", "math_digits": "\U0001d7cf\U0001d7d0", "superscript": "\u00b2",
    "year_1": "0001-01-01T00:00:00+05:00", "year_9999": "9999-12-31T23:59:59-05:00", "no_offset": "2026-11-29T10:00:00",
    "feb_30": "2026-02-30T00:00:00Z", "exponent_text": "1e999999", "nan_text": "NaN", "infinity_text": "-Infinity",
    "pan": "4242 4242 4242 4242", "path": "../../etc/passwd", "sql": "' OR 1=1 --", "jndi": "${jndi:ldap://x}",
    "emoji": "\U0001f600" * 100, "newlines": "a\r\nb\tc", "percent": "%00%0d%0a",
}
STRUCTURES: dict[str, Any] = {
    "list": [], "object": {}, "null": None, "true": True, "false": False,
    "deep_object": _nested(40, 1, "object"), "deep_list": _nested(40, 1, "list"),
    "deep_object_9": _nested(9, 1, "object"),
    "wide_object": {f"k{index}": index for index in range(200)}, "long_list": list(range(5000)),
    "empty_key": {"": 1}, "nul_key": {"\x00": 1}, "long_key": {"k" * 500: 1},
}
HOSTILE: dict[str, Any] = {**NUMBERS, **STRINGS, **STRUCTURES}
HOSTILE_KEYS: dict[str, str] = {"nul": "\x00", "surrogate": "\ud800", "long": "k" * 2000, "empty": "",
                                "pan": "4242424242424242", "camel_clash": "paymentId"}
ATTRIBUTES = ("id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "correlationid",
              "traceparent", "partitionkey", "causationid", "fuzzextension")
ATTRIBUTE_VALUES: dict[str, str] = {
    "empty": "", "space": " ", "long_201": "i" * 201, "long_513": "i" * 513, "long_5000": "i" * 5000,
    "controls": "a\x01b", "bidi": "a\u202eb", "nul": "a\x00b", "unicode": "\u00e9\u4e2d\U0001f600",
    "year_1": "0001-01-01T00:00:00+05:00", "year_9999": "9999-12-31T23:59:59-05:00", "not_a_time": "yesterday",
    "percent": "%ZZ", "newline": "a\nb",
}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document: object members and list items, nested ones too."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found += paths(child, (*prefix, index))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any) -> None:
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def serialize(document: Any, raw: Raw | None) -> bytes:
    body = dumps(document)
    if raw is not None:
        body = body.replace(json.dumps(RAW_MARK).encode(), raw.text.encode())
    return body


RAW_MARK = "\x1fraw\x1f"


@dataclass(frozen=True, slots=True)
class Corruption:
    where: str  # "data.<path>", "data.<key at path>", or "ce-<attribute>"
    what: str  # the hostile value's name
    body: bytes
    attributes: dict[str, str]


@st.composite
def corrupt(draw: st.DrawFn, data: dict[str, Any]) -> Corruption:
    """One hostile change to `data` or to its event's attributes."""
    document = json.loads(json.dumps(data))
    kind = draw(st.sampled_from(["value", "value", "value", "key", "attribute"]))
    if kind == "attribute":
        name = draw(st.sampled_from(ATTRIBUTES))
        what = draw(st.sampled_from(sorted(ATTRIBUTE_VALUES)))
        return Corruption(f"ce-{name}", what, dumps(document), {name: ATTRIBUTE_VALUES[what]})
    places = paths(document)
    if kind == "key":
        what = draw(st.sampled_from(sorted(HOSTILE_KEYS)))
        parent: tuple[Any, ...] = draw(st.sampled_from([(), *[p for p in places if _is_object(document, p)]]))
        target = document
        for part in parent:
            target = target[part]
        target[HOSTILE_KEYS[what]] = draw(st.sampled_from(["v", 1, None]))
        return Corruption("data." + ".".join(map(str, parent)) + ".<key>", what, dumps(document), {})
    path = draw(st.sampled_from(places)) if places else ("fuzz",)
    what = draw(st.sampled_from(sorted(HOSTILE)))
    value = HOSTILE[what]
    raw = value if isinstance(value, Raw) else None
    _set(document, path, RAW_MARK if raw is not None else value)
    return Corruption("data." + ".".join(map(str, path)), what, serialize(document, raw), {})


def _is_object(document: Any, path: tuple[Any, ...]) -> bool:
    target = document
    for part in path:
        target = target[part]
    return isinstance(target, dict)
