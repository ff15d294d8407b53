"""The reviewer inbox shows exactly the escalations a verdict would count on."""

from __future__ import annotations

import pytest

from clearance.approvals import Reviewer, decidable_by, may_decide, why_not
from clearance.rules import ApprovalRequirement

LATER = 60_000
CAROL = Reviewer("user:carol", ("data-steward",))
DAVE = Reviewer("user:dave", ("data-steward",))
ALICE = Reviewer("user:alice", ("data-steward",))  # the requester works for her
ERIN = Reviewer("user:erin", ("sre",))


def test_the_inbox_lists_what_a_reviewer_may_decide_soonest_first(open_state, now) -> None:
    later = open_state(escalation_id="esc-later")
    sooner = open_state(escalation_id="esc-sooner")
    sooner.expires_at = later.expires_at - 1
    own = open_state(
        escalation_id="esc-carols-own", principal={"id": "user:carol", "type": "human"}
    )
    states = [later, sooner, own]
    assert [s.escalation_id for s in decidable_by(CAROL, states, now)] == [
        "esc-sooner",
        "esc-later",
    ]
    assert decidable_by(ALICE, [later, sooner], now) == []
    assert decidable_by(ERIN, states, now) == []
    # Same expiry: ordered by id.
    assert [s.escalation_id for s in decidable_by(DAVE, states, now)] == [
        "esc-sooner",
        "esc-carols-own",
        "esc-later",
    ]


def test_a_reviewer_who_voted_no_longer_sees_it(open_state, approval, keyring, now) -> None:
    state = open_state(ApprovalRequirement(roles=("data-steward",), quorum=2))
    state.apply(approval("user:carol"), now + LATER, keyring)
    assert why_not(CAROL, state, now + LATER) == (
        "duplicate_approver",
        "user:carol already gave a verdict",
    )
    assert may_decide(DAVE, state, now + LATER)


def test_closed_and_expired_escalations_are_not_listed(open_state, approval, keyring, now):
    decided = open_state()
    decided.apply(approval("user:dave"), now + LATER, keyring)
    assert why_not(CAROL, decided, now + LATER)[0] == "not_open"  # type: ignore[index]
    waiting = open_state()
    assert may_decide(CAROL, waiting, waiting.expires_at - 1)
    assert why_not(CAROL, waiting, waiting.expires_at)[0] == "expired"  # type: ignore[index]


@pytest.mark.parametrize(
    "approver",
    [
        {"id": "user:carol", "type": "human", "roles": ["data-steward"]},
        {"id": "user:alice", "type": "human", "roles": ["data-steward"]},
        {"id": "agent:etl-7", "type": "agent", "roles": ["data-steward"]},
        {"id": "agent:x", "type": "agent", "roles": [], "on_behalf_of": "user:alice"},
        {"id": "svc:bot", "type": "service", "roles": ["data-steward"]},
        {"id": "user:erin", "type": "human", "roles": ["sre"]},
    ],
)
def test_the_inbox_agrees_with_the_worker(open_state, approval, keyring, now, approver) -> None:
    state = open_state()
    shown = why_not(approver, state, now + LATER)
    outcome = state.apply(
        approval(
            approver["id"],
            roles=approver["roles"],
            approver_type=approver["type"],
            on_behalf_of=approver.get("on_behalf_of"),
        ),
        now + LATER,
        keyring,
    )
    assert (shown is None) == outcome.accepted
    if shown is not None:
        assert shown[0] == outcome.reason_code
