"""Grants: duration, scope, time window, single use, expiry listing, revocation, JSON form."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from clearance.approvals import (
    EscalationState,
    GrantBook,
    GrantError,
    ResourceScope,
    grant_duration_seconds,
    grant_id_for,
)
from clearance.rules import ApprovalRequirement

STEWARD = ("data-steward",)
LATER = 60_000
ONE_TIME = ApprovalRequirement(roles=STEWARD)
WINDOW = ApprovalRequirement(roles=STEWARD, grant="window", max_duration_seconds=3600)


@pytest.mark.parametrize(
    ("kind", "requested", "approved", "maximum", "expected"),
    [
        ("window", 1800, None, 3600, 1800),  # what was asked
        ("window", 7200, None, 3600, 3600),  # capped by the rule
        ("window", None, None, 3600, 3600),  # nothing asked: the rule's maximum
        ("window", 1800, 600, 3600, 600),  # the approver shortens it
        ("window", 1800, 5000, 3600, 1800),  # the approver cannot lengthen it
        ("window", 7200, 5000, 3600, 3600),  # nor past the rule's maximum
        ("one_time", 7200, None, 3600, 300),  # one-time: the configured validity
        ("one_time", None, 60, 3600, 60),
        ("one_time", None, None, 120, 120),
    ],
)
def test_grant_duration(kind, requested, approved, maximum, expected) -> None:
    seconds = grant_duration_seconds(
        kind,
        requested_seconds=requested,
        approved_seconds=approved,
        max_duration_seconds=maximum,
        one_time_seconds=300,
    )
    assert seconds == expected


def _approved(open_state, approval, keyring, now, requirement=ONE_TIME, **overrides):
    grant_seconds = overrides.pop("grant_seconds", None)
    state: EscalationState = open_state(requirement, **overrides)
    message = approval("user:carol", grant_seconds=grant_seconds, escalation_id=state.escalation_id)
    outcome = state.apply(message, now + LATER, keyring)
    assert outcome.status == "approved"
    return state


def _event(state: EscalationState, event_id: str = "evt-retry", **changes: Any) -> dict[str, Any]:
    event = {
        "event_id": event_id,
        "principal": copy.deepcopy(state.principal),
        "action": state.action,
        "resource": dict(state.resource),
    }
    for path, value in changes.items():
        if "__" in path:
            outer, inner = path.split("__")
            event[outer][inner] = value
        else:
            event[path] = value
    return event


def test_an_approved_escalation_issues_a_scoped_grant(open_state, approval, keyring, now):
    state = _approved(open_state, approval, keyring, now)
    book = GrantBook()
    grant = book.issue(state, now + LATER)
    assert grant.grant_id == grant_id_for(state.escalation_id)
    assert (grant.principal_id, grant.on_behalf_of, grant.action) == (
        "agent:etl-7",
        "user:alice",
        "data.export",
    )
    assert grant.resource == ResourceScope("dataset", "customers", "prod")
    assert grant.single_use and grant.kind == "one_time" and grant.approvers == ("user:carol",)
    assert (grant.issued_at, grant.expires_at) == (now + LATER, now + LATER + 300_000)
    assert book.issue(state, now + LATER + 5) == grant  # a redelivery makes no second grant


def test_only_an_approved_escalation_issues_a_grant(open_state, now) -> None:
    with pytest.raises(GrantError, match="open, not approved"):
        GrantBook().issue(open_state(), now)


def test_a_window_grant_is_shortened_by_the_approver_and_capped(
    open_state, approval, keyring, now
) -> None:
    asked_too_much = _approved(
        open_state, approval, keyring, now, WINDOW, context={"requested_seconds": 86_400}
    )
    grant = GrantBook().issue(asked_too_much, now)
    assert grant.expires_at - grant.issued_at == 3600 * 1000 and not grant.single_use
    shortened = _approved(
        open_state,
        approval,
        keyring,
        now,
        WINDOW,
        context={"requested_seconds": 1800},
        grant_seconds=900,
    )
    grant = GrantBook().issue(shortened, now)
    assert grant.expires_at - grant.issued_at == 900 * 1000


@pytest.mark.parametrize(
    "change",
    [
        {"action": "data.delete"},
        {"resource__id": "orders"},
        {"resource__type": "table"},
        {"resource__environment": "staging"},
        {"principal__id": "agent:etl-8"},
        {"principal__on_behalf_of": "user:bob"},
        {"principal__on_behalf_of": None},
    ],
)
def test_events_outside_the_scope_are_not_covered(
    open_state, approval, keyring, now, change
) -> None:
    state = _approved(open_state, approval, keyring, now, WINDOW)
    book = GrantBook()
    book.issue(state, now)
    assert book.find(_event(state), now + 1) is not None
    assert book.find(_event(state, **change), now + 1) is None


def test_sensitivity_does_not_narrow_the_scope(open_state, approval, keyring, now) -> None:
    state = _approved(open_state, approval, keyring, now, WINDOW)
    book = GrantBook()
    book.issue(state, now)
    assert book.find(_event(state, resource__sensitivity="internal"), now + 1) is not None


def test_a_grant_is_valid_only_inside_its_time_window(open_state, approval, keyring, now):
    state = _approved(open_state, approval, keyring, now, WINDOW)
    book = GrantBook()
    grant = book.issue(state, now)
    assert book.find(_event(state), now - 1) is None
    assert book.find(_event(state), now) == grant
    assert book.find(_event(state), grant.expires_at - 1) == grant
    assert book.find(_event(state), grant.expires_at) is None


def test_a_one_time_grant_is_consumed_once(open_state, approval, keyring, now) -> None:
    state = _approved(open_state, approval, keyring, now)
    book = GrantBook()
    grant = book.issue(state, now)
    found = book.find(_event(state, "evt-1"), now + 1)
    assert found == grant
    used = book.consume(grant.grant_id, "evt-1")
    assert used.used and used.used_by_event_id == "evt-1"
    assert book.find(_event(state, "evt-2"), now + 2) is None
    with pytest.raises(GrantError, match="already used by event evt-1"):
        book.consume(grant.grant_id, "evt-2")
    # The same event redelivered is decided the same way, citing the same grant.
    assert book.find(_event(state, "evt-1"), now + 3) == used
    assert book.consume(grant.grant_id, "evt-1") == used


def test_a_window_grant_allows_every_event_until_it_expires(
    open_state, approval, keyring, now
) -> None:
    state = _approved(open_state, approval, keyring, now, WINDOW)
    book = GrantBook()
    grant = book.issue(state, now)
    for number in range(3):
        event = _event(state, f"evt-{number}")
        assert book.find(event, now + number) == grant
        assert not book.consume(grant.grant_id, event["event_id"]).used


def test_a_window_grant_is_preferred_over_spending_a_one_time_grant(
    open_state, approval, keyring, now
) -> None:
    one_time = _approved(open_state, approval, keyring, now, escalation_id="esc-once")
    window = _approved(open_state, approval, keyring, now, WINDOW, escalation_id="esc-window")
    book = GrantBook()
    book.issue(one_time, now)
    window_grant = book.issue(window, now)
    assert book.find(_event(window), now + 1) == window_grant


def test_consuming_an_unknown_grant_fails(now) -> None:
    with pytest.raises(GrantError, match="no grant g-1"):
        GrantBook().consume("g-1", "evt-1")


def test_expired_lists_grants_due_for_revocation(open_state, approval, keyring, now) -> None:
    short = _approved(open_state, approval, keyring, now, escalation_id="esc-short")
    long = _approved(
        open_state, approval, keyring, now, WINDOW, escalation_id="esc-long", grant_seconds=1200
    )
    book = GrantBook()
    first = book.issue(short, now)
    second = book.issue(long, now)
    assert book.next_expiry() == first.expires_at
    assert book.expired(first.expires_at - 1) == []
    assert book.expired(first.expires_at) == [first]
    assert book.expired(second.expires_at) == [first, second]
    assert book.revoke(first.grant_id) == first
    assert book.revoke(first.grant_id) is None
    assert book.find(_event(short), now + 1) == second  # same scope; the revoked one is gone
    assert book.next_expiry() == second.expires_at and len(book) == 1
    book.revoke(second.grant_id)
    assert book.find(_event(short), now + 1) is None and book.next_expiry() is None


def test_the_book_survives_a_json_round_trip(open_state, approval, keyring, now) -> None:
    state = _approved(open_state, approval, keyring, now)
    book = GrantBook()
    grant = book.issue(state, now)
    book.consume(grant.grant_id, "evt-1")
    restored = GrantBook.from_dict(json.loads(json.dumps(book.to_dict())))
    assert restored.grants == book.grants
    assert restored.find(_event(state, "evt-2"), now + 1) is None
    assert GrantBook.from_dict(None).to_dict() == {"grants": {}}
