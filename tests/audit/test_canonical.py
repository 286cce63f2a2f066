"""RFC 8785 canonical JSON of what the audit log stores (the leaf bytes depend on it)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.audit.canonical import _write, canonical_json


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
