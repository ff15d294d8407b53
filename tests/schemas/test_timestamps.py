"""RFC 3339 strings and datetimes to epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearance.schemas._timestamps import datetime_to_millis, rfc3339_to_millis

T0 = 1_795_428_000_000  # 2026-11-23T10:00:00Z


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("2026-11-23T10:00:00Z", T0),
        ("2026-11-23T10:00:00z", T0),
        ("2026-11-23t10:00:00Z", T0),
        ("2026-11-23 10:00:00Z", T0),
        ("2026-11-23T10:00:00+00:00", T0),
        ("2026-11-23T10:00:00-00:00", T0),
        ("2026-11-23T12:00:00+02:00", T0),
        ("2026-11-23T04:30:00-05:30", T0),
        ("2026-11-23T10:00:00.5Z", T0 + 500),
        ("2026-11-23T10:00:00.123Z", T0 + 123),
        ("2026-11-23T10:00:00.123999999Z", T0 + 123),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_rfc3339_to_millis(text: str, millis: int) -> None:
    assert rfc3339_to_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2026-11-23T10:00:00", "not an RFC 3339 date-time with offset"),
        ("2026-11-23", "not an RFC 3339"),
        ("2026-11-23T10:00Z", "not an RFC 3339"),
        ("2026-11-23T10:00:00Z ", "not an RFC 3339"),
        ("2026-11-23T10:00:00+0100", "not an RFC 3339"),
        ("\uff12\uff10\uff12\uff16-11-23T10:00:00Z", "not an RFC 3339"),  # fullwidth digits
        ("2026-02-30T10:00:00Z", "day is out of range for month"),
        ("2026-11-23T24:00:00Z", "hour must be in 0..23"),
        ("2026-12-31T23:59:60Z", "second must be in 0..59"),
        ("2026-11-23T10:00:00+24:00", "offset must be a timedelta"),
    ],
)
def test_rfc3339_refuses(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        rfc3339_to_millis(text)


def test_datetime_to_millis() -> None:
    assert datetime_to_millis(datetime(2026, 11, 23, 10, tzinfo=UTC)) == T0
    plus_one = timezone(timedelta(hours=1))
    assert datetime_to_millis(datetime(2026, 11, 23, 11, 0, 0, 1999, tzinfo=plus_one)) == T0 + 1
    with pytest.raises(ValueError, match="naive datetime"):
        datetime_to_millis(datetime(2026, 11, 23, 10))


OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(st.datetimes(timezones=OFFSETS))
def test_rfc3339_agrees_with_datetime(moment: datetime) -> None:
    assert rfc3339_to_millis(moment.isoformat()) == datetime_to_millis(moment)
