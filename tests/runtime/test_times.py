"""One time range for event fields, the time attribute and query strings (shared/times.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.contract import parse_time
from shared.errors import EventError
from shared.times import TIME_MAX, TIME_MIN, TimeRangeError, parse_rfc3339


@pytest.mark.parametrize(("text", "rule"), [
    ("0001-01-01T00:00:00+05:00", "range"), ("9999-12-31T23:59:59-05:00", "range"), ("1969-12-31T23:59:59Z", "range"),
    ("9000-01-01T00:00:00Z", "range"), ("2026-11-29T10:00:00", "timezone"), ("yesterday", "datetime"),
    ("2026-02-30T00:00:00Z", "datetime"), ("\uff12\uff10\uff12\uff16-11-29T10:00:00Z", "datetime"),
    ("2026-11-29T10:00:00Z" + " " * 60, "datetime"),
])
def test_times_outside_the_range_or_without_an_offset_are_refused(text: str, rule: str) -> None:
    with pytest.raises(TimeRangeError) as error:
        parse_rfc3339(text)
    assert error.value.rule == rule
    with pytest.raises(EventError) as refused:
        parse_time("from", text)
    assert (refused.value.problems[0].field, refused.value.problems[0].rule) == ("from", rule)


def test_times_in_range_come_back_in_utc() -> None:
    assert parse_rfc3339("2026-11-29T10:00:00+05:00") == datetime(2026, 11, 29, 5, tzinfo=UTC)
    assert parse_rfc3339("1970-01-01T00:00:00Z") == TIME_MIN
    assert parse_time("to", "8999-12-31T23:59:59 00:00") < TIME_MAX  # an unencoded '+' arrives as a space
