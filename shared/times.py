"""The range of times paymesh accepts, in events and in query strings alike.

Far enough for any real payment, short of datetime's own edges: a time near year 1 or 9999 would
overflow when converted to UTC or when a duration is added to it.
"""

from __future__ import annotations

from datetime import UTC, datetime

TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(9000, 1, 1, tzinfo=UTC)
TIME_TEXT_MAX_CHARS = 64


class TimeRangeError(ValueError):
    """A time that breaks a rule; `rule` is "timezone" or "range"."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def bounded_utc(value: datetime) -> datetime:
    """`value` in UTC if it carries an offset and lies in [TIME_MIN, TIME_MAX); else TimeRangeError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimeRangeError("timezone", "time must carry a timezone offset")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise TimeRangeError("range", "time must be between 1970 and 9000") from None
    if not TIME_MIN <= utc < TIME_MAX:
        raise TimeRangeError("range", "time must be between 1970 and 9000")
    return utc


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time with an offset, bounded, in UTC; ValueError (TimeRangeError for range) otherwise."""
    if len(text) > TIME_TEXT_MAX_CHARS or not text.isascii():
        raise TimeRangeError("datetime", "not an RFC 3339 time")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeRangeError("datetime", "not an RFC 3339 time") from None
    return bounded_utc(value)
