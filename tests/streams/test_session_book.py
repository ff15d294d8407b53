"""One principal's open sessions: opening, idle expiry, eviction, what is worth persisting."""

from __future__ import annotations

from typing import Any

from clearance.streams.session_book import SessionBook, recheck_event

IDLE = 1_800_000
RESOLUTION = IDLE // 10
T0 = 1_795_428_000_000


def _event(event_id: str, dataset: str = "ledger", session_id: str = "s-1") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "occurred_at": T0,
        "principal": {"id": "agent:a", "type": "agent", "roles": [], "on_behalf_of": None},
        "action": "data.read",
        "resource": {
            "type": "dataset",
            "id": dataset,
            "environment": "prod",
            "sensitivity": "internal",
        },
        "session_id": session_id,
        "source": "10.0.0.1",
        "data_bytes": 10,
        "context": {},
    }


def _allow(book: SessionBook, event: dict[str, Any], at: int, limit: int = 16) -> bool:
    return book.allowed(
        event["session_id"],
        event,
        at,
        "v1",
        at,
        idle_ms=IDLE,
        limit=limit,
        resolution_ms=RESOLUTION,
    )


def test_an_allowed_action_opens_its_session_and_repeats_are_written_sparingly() -> None:
    book = SessionBook(3)
    assert _allow(book, _event("e-1"), T0)  # new: write
    assert not _allow(book, _event("e-2"), T0 + 1000)  # same action, barely later: no write
    assert book.sessions["s-1"].last_seen == T0 + 1000  # ... but known in memory
    assert book.sessions["s-1"].event_id == "e-2"
    assert _allow(book, _event("e-3"), T0 + RESOLUTION)  # last_seen moved enough: write
    assert _allow(book, _event("e-4", "payroll"), T0 + RESOLUTION + 1)  # another action: write
    assert recheck_event(book.sessions["s-1"], T0 + 5)["resource"]["id"] == "payroll"
    assert recheck_event(book.sessions["s-1"], T0 + 5)["occurred_at"] == T0 + 5


def test_an_event_not_allowed_only_keeps_an_open_session_alive() -> None:
    book = SessionBook(0)
    assert not book.seen("s-1", T0, T0, idle_ms=IDLE, resolution_ms=RESOLUTION)
    assert len(book) == 0  # a denied event opens nothing
    _allow(book, _event("e-1"), T0)
    assert book.seen("s-1", T0 + RESOLUTION, T0 + RESOLUTION, idle_ms=IDLE, resolution_ms=1)
    assert book.sessions["s-1"].last_seen == T0 + RESOLUTION
    assert book.sessions["s-1"].event_id == "e-1"  # still the last allowed action


def test_an_idle_session_closes_and_is_not_revived() -> None:
    book = SessionBook(0)
    _allow(book, _event("e-1", session_id="old"), T0)
    _allow(book, _event("e-2", session_id="recent"), T0 + IDLE // 2)
    later = T0 + IDLE
    assert list(book.open(later, IDLE)) == ["recent"]
    # Seen again once idle: the session stays closed, it is not kept alive.
    assert not book.seen("old", later, later, idle_ms=IDLE, resolution_ms=RESOLUTION)
    assert book.expire(later, IDLE) == ["old"]
    assert list(book.sessions) == ["recent"]
    # An event that was idle already when it arrived opens nothing.
    late = _event("e-3", session_id="late")
    assert not book.allowed(
        "late", late, T0, "v1", later + 1, idle_ms=IDLE, limit=16, resolution_ms=RESOLUTION
    )
    assert "late" not in book.sessions


def test_past_the_limit_the_least_recent_session_is_dropped() -> None:
    book = SessionBook(0)
    for i, session_id in enumerate(["a", "b", "c"]):
        _allow(book, _event(f"e-{i}", session_id=session_id), T0 + i * 1000, limit=3)
    _allow(book, _event("e-a", session_id="a"), T0 + 5000, limit=3)  # a is recent again
    _allow(book, _event("e-d", session_id="d"), T0 + 6000, limit=3)
    assert sorted(book.sessions) == ["a", "c", "d"]


def test_closing_all_returns_the_sessions_still_open() -> None:
    book = SessionBook(0)
    _allow(book, _event("e-1", session_id="idle"), T0)
    _allow(book, _event("e-2", session_id="live"), T0 + IDLE)
    closed = book.close_all(T0 + IDLE + 1, IDLE)
    assert list(closed) == ["live"]
    assert len(book) == 0


def test_a_book_survives_its_json_round_trip() -> None:
    book = SessionBook(2)
    _allow(book, _event("e-1", session_id="a"), T0)
    _allow(book, _event("e-2", "payroll", session_id="b"), T0 + 1)
    again = SessionBook.from_dict(book.to_dict())
    assert again.partition == 2
    assert again.to_dict() == book.to_dict()
    # A restored session seen again with the same action is not written at once.
    assert not _allow(again, _event("e-3", session_id="a"), T0 + 1000)
