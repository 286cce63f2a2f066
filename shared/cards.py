"""Card numbers (PANs), found the way payment DLP scanners find them. Payments refuses them at the door;
audit masks any that slipped into a payload. Both use this one definition.

A card number is 13-19 digits written contiguously, or in a printed layout (4-4-4-4, 4-4-4-4-3, 4-6-5,
4-6-4) with one consistent separator (a single space or hyphen); its leading digits fall in the IIN range
of a card network with a length valid for that network; and it passes the Luhn check. Every contiguous
run of digits, and every window of groups in a printed layout, is checked on its own, whatever digits
stand beside it: "4242 4242 4242 4242 123" holds a card number in its first four groups. Digits of any
script count (a card number in full-width digits is still one); a longer run is never a card number, nor
is a run after a plus sign (an international phone number).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import pairwise

LAYOUTS: tuple[tuple[int, ...], ...] = ((4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4))
SEPARATORS = frozenset({" ", "-"})
PAN_LENGTHS = range(13, 20)
_DIGIT_RUN = re.compile(r"\d+")
_OPENING_GROUPS = frozenset(layout[0] for layout in LAYOUTS)
# What every card number holds: a run of 13 digits, or (every printed layout) 4 digits, a separator, 4 more.
_MAYBE_PAN = re.compile(r"\d{13}|\d{4}[ -]\d{4}")
assert PAN_LENGTHS.start == 13 and {4} == _OPENING_GROUPS and {" ", "-"} == SEPARATORS
assert all(layout[1] >= 4 for layout in LAYOUTS)


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    # Inclusive IIN ranges, each bound written with as many digits as it constrains.
    ranges: tuple[tuple[str, str], ...]
    lengths: frozenset[int]


def _lengths(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


NETWORKS: tuple[Network, ...] = (
    Network("visa", (("4", "4"),), frozenset({13, 16, 19})),
    Network("mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    Network("amex", (("34", "34"), ("37", "37")), frozenset({15})),
    Network("discover", (("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")), _lengths(16, 19)),
    Network("diners", (("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")), _lengths(14, 19)),
    Network("jcb", (("3528", "3589"),), _lengths(16, 19)),
    Network("unionpay", (("62", "62"), ("81", "81")), _lengths(16, 19)),
    Network("maestro", (("5018", "5018"), ("5020", "5020"), ("5038", "5038"), ("5893", "5893"), ("6304", "6304"),
                        ("6759", "6759"), ("6761", "6763")), _lengths(13, 19)),
)


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


def card_network(digits: str) -> str | None:
    """The network whose IIN range and lengths `digits` (ASCII) fit, or None."""
    for network in NETWORKS:
        if len(digits) not in network.lengths:
            continue
        for low, high in network.ranges:
            if low <= digits[: len(low)] <= high:
                return network.name
    return None


def is_pan(digits: str) -> bool:
    return len(digits) in PAN_LENGTHS and card_network(digits) is not None and luhn_valid(digits)


@dataclass(frozen=True, slots=True)
class _Run:
    start: int
    end: int
    digits: str  # ASCII


def _ascii_digits(run: str) -> str:
    return run if run.isascii() else "".join(str(unicodedata.decimal(char)) for char in run)


def _runs(text: str) -> list[_Run]:
    return [_Run(match.start(), match.end(), _ascii_digits(match.group())) for match in _DIGIT_RUN.finditer(text)]


def _phone(text: str, run: _Run) -> bool:
    # A leading plus makes an international phone number (E.164 reaches 15 digits); no card is written so.
    return run.start > 0 and text[run.start - 1] == "+"


def pan_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every card number in `text`, contiguous or grouped; spans may overlap."""
    if not _MAYBE_PAN.search(text):
        return []  # neither a long enough run nor the start of a printed layout (most text): skip the analysis
    runs = _runs(text)
    spans = [(run.start, run.end) for run in runs
             if len(run.digits) in PAN_LENGTHS and not _phone(text, run) and is_pan(run.digits)]
    for first in range(len(runs)):
        if len(runs[first].digits) not in _OPENING_GROUPS or _phone(text, runs[first]):
            continue
        for layout in LAYOUTS:
            window = runs[first:first + len(layout)]
            if len(window) < len(layout) or any(len(run.digits) != size for run, size in zip(window, layout,
                                                                                              strict=True)):
                continue
            separators = {text[left.end:right.start] for left, right in pairwise(window)}
            if len(separators) == 1 and separators <= SEPARATORS and is_pan("".join(run.digits for run in window)):
                spans.append((window[0].start, window[-1].end))
    return spans


def contains_pan(text: str) -> bool:
    return bool(pan_spans(text))


def mask_pans(text: str) -> str:
    """Every card number in `text` as its first six and last four digits, separators dropped
    ("4242 4242 4242 4242" -> "424242******4242")."""
    spans = sorted(pan_spans(text))
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, position = [], 0
    for start, end in merged:
        digits = "".join(run.digits for run in _runs(text[start:end]))
        pieces += [text[position:start], digits[:6], "*" * (len(digits) - 10), digits[-4:]]
        position = end
    return "".join([*pieces, text[position:]])
