"""Finding (and masking) card numbers and unmasked email addresses or phone numbers in a payload.

A PAN is what shared/cards.py says it is (network IIN range and length, printed layouts, Luhn). An email
is unmasked when its local part shows more than one character and no `*`; a phone number when it is a
`+` followed by 8-15 digits (spaces/dashes allowed) without a `*`. A whole value of the form `<id@host>`
is a message id, not an address. Masked forms (j***@example.com,
+44******789) do not match. The audit store never keeps what it finds: it stores the masked form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.cards import mask_pans

_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+*\-])([A-Za-z0-9._%+\-]+)@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})")
# An RFC 5322 msg-id (`<unique@host>`, e.g. an email's Message-ID) has an address's shape but is not one.
_MESSAGE_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")
_NOTHING_TO_MASK = re.compile(r"[^\d@]*")
_PHONE = re.compile(r"(?<![0-9A-Za-z*])\+[0-9](?:[ \-]?[0-9]){7,14}(?![0-9*])")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # "pan" | "email" | "phone"
    path: str


def _digits(text: str) -> str:
    return re.sub(r"[ \-]", "", text)


def _mask_email(match: re.Match[str]) -> str:
    local, domain = match.group(1), match.group(2)
    if len(local) <= 1:
        return match.group(0)
    return f"{local[0]}***@{domain}"


def _mask_phone(match: re.Match[str]) -> str:
    digits = _digits(match.group(0))[1:]
    return "+" + digits[:2] + "*" * max(len(digits) - 5, 1) + digits[-3:]


_SCANNERS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("pan", mask_pans),
    ("email", lambda text: _EMAIL.sub(_mask_email, text)),
    ("phone", lambda text: _PHONE.sub(_mask_phone, text)),
)


def _scan_text(text: str, path: str, findings: list[Finding]) -> str:
    if _NOTHING_TO_MASK.fullmatch(text):  # no digit and no "@": no card, phone number or email
        return text
    for kind, mask in _SCANNERS:
        if kind == "email" and _MESSAGE_ID.match(text):
            continue
        masked = mask(text)
        if masked != text:
            findings.append(Finding(kind, path))
            text = masked
    return text


def scrub(value: Any, path: str = "$") -> tuple[Any, list[Finding]]:
    """`value` with every PAN, unmasked email and phone masked, and where each was found."""
    findings: list[Finding] = []

    def walk(item: Any, where: str) -> Any:
        if isinstance(item, str):
            return _scan_text(item, where, findings)
        if isinstance(item, bool):
            return item
        if isinstance(item, int):
            text = str(item)
            masked = _scan_text(text, where, findings)
            return item if masked == text else masked
        if isinstance(item, dict):
            # Keys too: a card number used as a key is still a card number.
            return {_scan_text(key, f"{where}.<key>", findings) if isinstance(key, str) else key:
                    walk(child, f"{where}.{key}") for key, child in item.items()}
        if isinstance(item, list):
            return [walk(child, f"{where}[{index}]") for index, child in enumerate(item)]
        return item

    return walk(value, path), findings
