"""RFC 8785 canonical JSON of what the audit log stores (the leaf bytes depend on it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.audit.canonical import _write, canonical_json
from functions.audit.leaves import NewRecord, leaf_bytes


def slow(value: Any) -> str:
    out: list[str] = []
    _write(value, out)
    return "".join(out)


@pytest.mark.parametrize(("value", "text"), [
    ({"b": 1, "a": [True, None, False]}, '{"a":[true,null,false],"b":1}'),
    ({"s": "line\nbreak \"q\" \\ \x01 \x7f é \u2028"}, '{"s":"line\\nbreak \\"q\\" \\\\ \\u0001 \x7f é \u2028"}'),
    # RFC 8785 §3.2.3: keys sort by UTF-16 code units, so U+1F600 (D83D DE00) sorts before U+FFFF
    ({"\uffff": 2, "\U0001F600": 1, "a": 0}, '{"a":0,"\U0001F600":1,"\uffff":2}'),
    ({"n": -(2**53 - 1), "m": 0}, '{"m":0,"n":-9007199254740991}'),
])
def test_canonical_text(value: Any, text: str) -> None:
    assert canonical_json(value) == text
    assert slow(value) == text


@pytest.mark.parametrize("value", [{"x": 1.5}, {"x": 2**53}, {1: "x"}, {"x": object()}])
def test_values_without_an_exact_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json(value)


texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | texts,
                           lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(texts, children, max_size=3), max_leaves=8)


@given(texts, texts, st.none() | texts, json_values, st.datetimes(timezones=st.just(UTC)))
def test_a_new_records_leaf_is_the_canonical_json_of_its_content(subject: str, actor: str, customer: str | None,
                                                                  data: Any, occurred_at: datetime) -> None:
    record = NewRecord(event_source="/s\u00e9", event_id=subject + "1", event_type="audit.payment-events",
                       service="payments", action="payment.captured", outcome="success", actor=actor, subject=subject,
                       correlation_id=actor[::-1], customer_id=customer, occurred_at=occurred_at,
                       recorded_at=occurred_at, data=canonical_json({"details": data}))
    assert record.leaf() == leaf_bytes(record)
