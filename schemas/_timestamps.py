"""Timestamps as the schemas carry them: integer milliseconds since the Unix epoch, UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["datetime_to_millis", "rfc3339_to_millis"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MILLISECOND = timedelta(milliseconds=1)

# RFC 3339 section 5.6 date-time, ASCII digits only; the offset is mandatory, so a local time
# never slips through. datetime.fromisoformat then checks the calendar and clock ranges.
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)", re.ASCII
)


def rfc3339_to_millis(text: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 date-time; sub-milliseconds are truncated.

    Parameters
    ----------
    text
        For example ``"2026-11-23T10:00:00Z"`` or ``"2026-11-23T11:00:00.250+01:00"``.

    Returns
    -------
    int
        Milliseconds since 1970-01-01T00:00:00Z.

    Raises
    ------
    ValueError
        When ``text`` is not an RFC 3339 date-time with an offset, or names a day or time
        that does not exist (2026-02-30, 25:00, a leap second).
    """
    if _RFC3339.fullmatch(text) is None:
        raise ValueError("not an RFC 3339 date-time with offset, such as 2026-11-23T10:00:00Z")
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError as exc:
        raise ValueError(str(exc).split(",")[0]) from None
    return (moment - _EPOCH) // _ONE_MILLISECOND


def datetime_to_millis(moment: datetime) -> int:
    """Milliseconds since the epoch of a timezone-aware datetime; microseconds are truncated.

    Parameters
    ----------
    moment
        An aware datetime (``tzinfo`` set).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        For a naive datetime, whose instant is unknown.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime; give it a timezone, e.g. tzinfo=timezone.utc")
    return (moment - _EPOCH) // _ONE_MILLISECOND
