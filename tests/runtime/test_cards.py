"""The PAN guard, one definition for payments (refuse) and audit (mask): exact both ways.

Card numbers of every listed network, in every printed layout, anywhere in a text or payload are found,
whatever digits stand beside them; ids, dates, timestamps, phone numbers and ISBNs are not.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.audit.sensitive import scrub
from functions.payments.pan import find_pan
from shared.cards import LAYOUTS, NETWORKS, card_network, contains_pan, luhn_valid, mask_pans
from tests.fuzz.world import PAYMENT_REQUESTED, World, refusal, state, world
from tests.support import post_event


@pytest.mark.parametrize("text", [
    "4242 4242 4242 4242 123", "4111111111111111-07", "ref 4111111111111111-07-x", "1234 5555 5555 5555 4444",
    "3782 822463 10005", "3056 930902 5904", "2223-0031-2200-3222", "x4242424242424242y",
])
def test_card_numbers_beside_other_digits_are_found(text: str) -> None:
    assert contains_pan(text)


@pytest.mark.parametrize("text", [
    "ord-2026-11-29-000018", "20261129164401035", "1795970679126", "wrk-0-106-515021363", "1732886400000",
    "+1 415 555 2671", "+44 7700 900123", "+4915112345678", "978-3-16-148410-0", "9783161484100", "2026-11-29T16:44:01.035Z",
    "pay_1234567890123456", "4242-4242 4242 4242", "4242  4242  4242  4242", "42424242424242424242",
])
def test_ids_dates_phones_and_isbns_are_not_card_numbers(text: str) -> None:
    assert not contains_pan(text)


def test_networks_know_their_ranges_and_lengths() -> None:
    assert card_network("4242424242424242") == "visa"
    assert card_network("2720990000000000") == "mastercard" and card_network("2721000000000000") is None
    assert card_network("378282246310005") == "amex" and card_network("3782822463100050") is None
    assert card_network("6221260000000000") == "discover" and card_network("6229250000000000") == "discover"
    assert card_network("1795970679126") is None


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number in a network's IIN range with a length that network issues."""
    network = draw(st.sampled_from(NETWORKS))
    low, high = draw(st.sampled_from(network.ranges))
    length = draw(st.sampled_from(sorted(network.lengths)))
    prefix = str(draw(st.integers(int(low), int(high)))).zfill(len(low))
    body = prefix + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=length - len(prefix) - 1,
                                          max_size=length - len(prefix) - 1)))
    check = next(digit for digit in "0123456789" if luhn_valid(body + digit))
    return body + check


def layouts_of(digits: str) -> list[str]:
    written = [digits]
    for layout in LAYOUTS:
        if sum(layout) == len(digits):
            for separator in (" ", "-"):
                groups, start = [], 0
                for size in layout:
                    groups.append(digits[start:start + size])
                    start += size
                written.append(separator.join(groups))
    return written


@st.composite
def card_in_text(draw: st.DrawFn) -> tuple[str, str, str]:
    """(text, the card number as written in it, its digits): neighbours may be digits after a separator."""
    digits = draw(card_numbers())
    written = draw(st.sampled_from(layouts_of(digits)))
    words = st.text(st.characters(codec="utf-8", exclude_categories=["Nd", "Cs"]), max_size=12)
    before = draw(words | st.from_regex(r"\A[a-z]{0,5}[0-9]{1,6}[ \-]\Z"))
    after = draw(words | st.from_regex(r"\A[ \-][0-9]{1,6}[a-z]{0,5}\Z"))
    return before + written + after, written, digits


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(card_in_text())
def test_every_card_number_in_every_layout_is_found_and_masked(case: tuple[str, str, str]) -> None:
    text, written, digits = case
    assert contains_pan(text), text
    masked = mask_pans(text)
    assert written not in masked and digits not in masked.replace(" ", "").replace("-", ""), masked
    assert not contains_pan(masked)


times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2099, 12, 31))
ordinary = st.one_of(
    st.builds(lambda d, n: f"ord-{d:%Y-%m-%d}-{n:06d}", st.dates(), st.integers(0, 999_999)),
    st.builds(lambda t, ms: f"{t:%Y%m%d%H%M%S}{ms:03d}", times, st.integers(0, 999)),
    # epoch seconds and milliseconds up to 2095 (13-digit milliseconds from 2096 on start with a 4, as
    # 13-digit Visa numbers do: a scanner cannot tell those apart)
    st.builds(str, st.integers(0, 3_999_999_999_999)),
    st.builds(lambda a, b, c: f"wrk-{a}-{b}-{c}", st.integers(0, 99), st.integers(0, 999), st.integers(0, 10**9)),
    st.builds(lambda c, n: f"+{c} {n}", st.integers(1, 999), st.integers(10**6, 10**11)),
    st.builds(lambda c, n: f"+{c}{n}", st.integers(1, 999), st.integers(10**6, 10**11)),
    st.builds(lambda g, p, t: f"978-{g}-{p}-{t}-0", st.integers(0, 9), st.integers(10, 99), st.integers(0, 999_999)),
    st.builds(lambda t: t.isoformat(), times),
    st.uuids().map(str),
    st.builds(lambda n: f"pay_{n}", st.integers(0, 10**12)),
)


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(ordinary)
def test_ordinary_values_are_never_card_numbers(text: str) -> None:
    assert not contains_pan(text), text
    assert mask_pans(text) == text


@st.composite
def payload_with_card(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
    text, written, digits = draw(card_in_text())
    where = draw(st.sampled_from(["description", "metadata.note", "metadata.deep.list", "metadata.key",
                                  "metadata.number", "method.token"]))
    data = json.loads(json.dumps(PAYMENT_REQUESTED))
    data["paymentId"] = f"pay_{uuid.uuid4().hex}"
    if where == "description":
        data["description"] = text
    elif where == "metadata.note":
        data["metadata"] = {"note": text}
    elif where == "metadata.deep.list":
        data["metadata"] = {"deep": {"list": ["a", {"card": text}]}}
    elif where == "metadata.key":
        data["metadata"] = {text[:100]: "x"} if len(text) <= 100 else {"k": text}
    elif where == "metadata.number" and written == digits:
        data["metadata"] = {"n": int(digits)} if int(digits) < 2**63 else {"n": digits}
    else:
        data["method"] = {**data["method"], "token": written.replace(" ", "-")}
    return data, written, digits


def test_find_pan_walks_every_leaf() -> None:
    assert find_pan({"metadata": {"cart": [{"note": "4111111111111111-07"}]}}) == "metadata.cart.0.note"
    assert find_pan({"metadata": {"ok": "ord-2026-11-29-000018"}}) is None


@pytest.fixture(scope="module")
def card_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world("sqlite", Path(tmp_path_factory.mktemp("cards"))) as created:
        yield created


def test_card_numbers_anywhere_are_refused_by_payments_never_logged_or_stored(
        card_world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = card_world.clients["payments"]
    before = state(card_world, "payments")

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(payload_with_card())
    def check(case: tuple[dict[str, Any], str, str]) -> None:
        data, written, digits = case
        response = post_event(client, "payments.payment-requested", data)
        refusal(response)
        answer = response.data.decode()
        assert written not in answer and digits not in answer
        assert digits not in caplog.text and written not in caplog.text

    check()
    assert state(card_world, "payments") == before


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(payload_with_card())
def test_audit_masks_every_card_number_it_is_given(case: tuple[dict[str, Any], str, str]) -> None:
    data, written, digits = case
    masked, findings = scrub({"details": data})
    text = json.dumps(masked, ensure_ascii=False)
    assert written not in text and digits not in text.replace(" ", "").replace("-", "")
    assert any(finding.kind == "pan" for finding in findings)


@pytest.mark.parametrize("metadata", [{"4242424242424242": 2**64}, {"4111 1111 1111 1111": {"n": "1e999999"}},
                                      {"4242424242424242": "\x00"}])
def test_a_card_number_used_as_a_key_is_not_echoed_by_a_refusal(card_world: World,
                                                                 metadata: dict[str, Any]) -> None:
    data = {**PAYMENT_REQUESTED, "paymentId": f"pay_{uuid.uuid4().hex}", "metadata": metadata}
    response = post_event(card_world.clients["payments"], "payments.payment-requested", data)
    refusal(response)
    answer = response.data.decode()
    assert "4242424242424242" not in answer and "4111 1111 1111 1111" not in answer, answer
