"""Size limits of the catalog's free-form parts, declared once and shared by the event models.

Every named field carries its own bound in shared/events.py; what is free-form (metadata, audit
details, template variables) is bounded here in keys, depth, string length and number range, so a
value that would overflow a column, an integer type or the decimal context never reaches a handler.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pydantic_core import PydanticCustomError

from shared.cards import mask_pans

# Subjects and actors: audit's columns hold 200 characters.
SUBJECT_MAX_CHARS = 200
# A reason or rule code ("card_declined", "large-transaction").
CODE_MAX_CHARS = 64
# A gateway's reference for a charge or refund.
REFERENCE_MAX_CHARS = 200
# Human-readable messages and provider errors (notifications keeps at most 2000 characters of one).
MESSAGE_MAX_CHARS = 4000
# Counters such as delivery attempts.
COUNT_MAX = 1_000_000
# Integers are stored in signed 64-bit columns (and SQLite binds nothing larger).
INTEGER_MAX = 2**63 - 1
# Free-form JSON: a decimal has at most this many digits either side of the point.
DECIMAL_DIGITS_MAX = 30
JSON_KEY_MAX_CHARS = 100
JSON_STRING_MAX_CHARS = 10_000
JSON_DEPTH_MAX = 8
JSON_NODES_MAX = 2_000


def number_problem(value: Any) -> str | None:
    """Why a JSON number is out of range, or None: integers fit 63 bits, decimals are finite and modest."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -INTEGER_MAX <= value <= INTEGER_MAX else "integers must fit in 63 bits"
    if isinstance(value, float):
        value = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "numbers must be finite"
        exponent = value.as_tuple().exponent
        if value and (value.adjusted() >= DECIMAL_DIGITS_MAX
                      or (isinstance(exponent, int) and exponent < -DECIMAL_DIGITS_MAX)):
            return f"decimals have at most {DECIMAL_DIGITS_MAX} digits either side of the point"
    return None


def bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    """Validator of a free-form object: PydanticCustomError naming the path inside it."""
    nodes = 0
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        nodes += 1
        if nodes > JSON_NODES_MAX:
            raise PydanticCustomError("max_size", f"at most {JSON_NODES_MAX} values in all")
        if depth > JSON_DEPTH_MAX:
            raise PydanticCustomError("max_depth", f"{path or 'value'}: nests deeper than {JSON_DEPTH_MAX} levels")
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str) or len(key) > JSON_KEY_MAX_CHARS:
                    raise PydanticCustomError("key_length", f"{path or 'value'}: keys are at most "
                                              f"{JSON_KEY_MAX_CHARS} characters")
                named = mask_pans(key)  # the path is named in the error: never echo a card number used as a key
                stack.append((child, f"{path}.{named}" if path else named, depth + 1))
        elif isinstance(node, list | tuple):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(node))
        elif isinstance(node, str):
            if len(node) > JSON_STRING_MAX_CHARS:
                raise PydanticCustomError("max_length", f"{path}: strings are at most {JSON_STRING_MAX_CHARS} "
                                          "characters")
        elif node is not None:
            problem = number_problem(node)
            if problem is not None:
                raise PydanticCustomError("range", f"{path}: {problem}")
    return value
