"""Card numbers (PANs): 13-19 digits, optionally grouped by single spaces or hyphens, passing the Luhn check.

Payments refuses them at the door; audit masks any that slipped into a payload. Both use this one definition.
"""

from __future__ import annotations

import re

PAN_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:[ \-]?[0-9]){12,18}(?![0-9])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def pan_digits(candidate: str) -> str | None:
    """The digits of `candidate` (a PAN_CANDIDATE match) if they form a PAN, else None."""
    digits = re.sub(r"[ \-]", "", candidate)
    return digits if 13 <= len(digits) <= 19 and luhn_valid(digits) else None


def contains_pan(text: str) -> bool:
    return any(pan_digits(match.group()) for match in PAN_CANDIDATE.finditer(text))


def mask_pans(text: str) -> str:
    """Every PAN in `text` as its first six and last four digits (4242424242424242 -> 424242******4242)."""
    def mask(match: re.Match[str]) -> str:
        digits = pan_digits(match.group())
        return match.group() if digits is None else digits[:6] + "*" * (len(digits) - 10) + digits[-4:]

    return PAN_CANDIDATE.sub(mask, text)
