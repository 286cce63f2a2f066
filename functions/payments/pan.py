"""The PAN guard: a raw card number must never enter the event stream, the store or the logs.

A PAN is a run of 13 to 19 digits, optionally grouped by single spaces or hyphens ("4242 4242 4242 4242"),
that passes the Luhn check. Longer runs are not PANs (they are rejected by no rule here). The guard walks
every string, number and key of the payload, metadata included, however deeply nested.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from shared.cards import contains_pan
from shared.errors import invalid_data


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield (f"{path}.<key>" if path else "<key>"), str(key)
            yield from _leaves(item, child)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | Decimal | float):
        yield path, format(value, "f") if isinstance(value, Decimal) else str(value)
    elif isinstance(value, str):
        yield path, value


def find_pan(payload: Any) -> str | None:
    """The path (camelCase, dotted) of the first field holding a PAN, or None."""
    for path, text in _leaves(payload, ""):
        if contains_pan(text):
            return path
    return None


def reject_pans(payload: Any) -> None:
    """422 naming the field; the number itself is never echoed back, logged or stored."""
    path = find_pan(payload)
    if path is not None:
        raise invalid_data(path, "no_pan", "a raw card number (PAN) is not accepted here; send a gateway token")
