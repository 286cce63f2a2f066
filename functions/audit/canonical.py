"""RFC 8785 (JSON Canonicalization Scheme) for the values the audit log stores.

Object keys sorted by their UTF-16 code units, no insignificant white space, strings escaped as
ECMAScript's JSON.stringify does (which is what json.dumps with ensure_ascii=False produces for the
escapes: \\b \\f \\n \\r \\t, \\" \\\\, other control characters as lowercase \\u00xx). Numbers: the log
holds integers only (the handler turns other JSON numbers into strings), and only integers a double
represents exactly, so their decimal form is the ECMAScript one; a float or a larger integer is refused.
"""

from __future__ import annotations

import json
from typing import Any

SAFE_INTEGER_MAX = 2**53 - 1


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > SAFE_INTEGER_MAX:
            raise ValueError("integers beyond 2^53-1 have no exact canonical form")
        out.append(str(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("object keys must be strings")
        out.append("{")
        for position, key in enumerate(sorted(value, key=_utf16_key)):
            if position:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise ValueError(f"cannot canonicalise a {type(value).__name__}")


def _plain_enough(value: Any) -> bool:
    """Whether json.dumps(sort_keys=True) already gives the canonical text: no floats or big integers, and
    no key outside the Basic Multilingual Plane (where code point order and UTF-16 order can differ)."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) <= SAFE_INTEGER_MAX
    if isinstance(value, dict):
        return all(isinstance(key, str) and (not key or max(key) <= "\uffff") and _plain_enough(item)
                   for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_plain_enough(item) for item in value)
    return False


def canonical_json(value: Any) -> str:
    """The RFC 8785 text of `value` (its UTF-8 bytes are the canonical form)."""
    if _plain_enough(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    out: list[str] = []
    _write(value, out)
    return "".join(out)
