"""Break-glass: allowed at once for its role holders, with a review someone else must do."""

from __future__ import annotations

import pytest

from clearance.approvals import (
    GrantBook,
    GrantError,
    break_glass,
    break_glass_requested,
    review_id_for,
)
from clearance.rules import ApprovalRequirement

ON_CALL = {"id": "user:ivan", "type": "human", "roles": ["incident-commander", "sre"]}
EMERGENCY = {"break_glass": True, "break_glass_reason": "INC-7: customer data pipeline down"}
REQUIREMENT = ApprovalRequirement(
    roles=("data-steward",), quorum=2, break_glass_roles=("incident-commander",)
)
LATER = 60_000


def test_a_break_glass_holder_proceeds_and_a_review_opens(escalation_record, now) -> None:
    record = escalation_record(principal=ON_CALL, context=EMERGENCY)
    outcome = break_glass(record, REQUIREMENT, now + LATER)
    assert (outcome.allowed, outcome.reason_code) == (True, "break_glass")
    assert "user:ivan" in outcome.reason and "INC-7" in outcome.reason
    review = outcome.review
    assert review is not None
    assert review.escalation_id == review_id_for(record["escalation_id"]) != record["escalation_id"]
    assert (review.purpose, review.status, review.note) == (
        "break_glass_review",
        "open",
        outcome.reason,
    )
    assert (review.opened_at, review.expires_at) == (now + LATER, now + LATER + 86_400_000)
    assert (review.approver_roles, review.quorum, review.deny_quorum) == (["data-steward"], 1, 1)
    assert (review.event_id, review.action, review.principal["id"]) == (
        record["event_id"],
        record["action"],
        "user:ivan",
    )


def test_the_review_must_be_done_by_someone_else(escalation_record, approval, keyring, now):
    record = escalation_record(principal=ON_CALL, context=EMERGENCY)
    review = break_glass(record, REQUIREMENT, now, review_seconds=3600).review
    assert review is not None and review.expires_at == now + 3_600_000
    own = approval("user:ivan", escalation_id=review.escalation_id)
    assert review.apply(own, now + LATER, keyring).reason_code == "self_approval"
    other = approval("user:carol", escalation_id=review.escalation_id)
    assert review.apply(other, now + LATER, keyring).status == "approved"
    with pytest.raises(GrantError, match="grants nothing"):
        GrantBook().issue(review, now + LATER)


@pytest.mark.parametrize(
    ("principal", "context", "requirement", "code"),
    [
        (ON_CALL, {}, REQUIREMENT, "not_requested"),
        (ON_CALL, {**EMERGENCY, "break_glass": "true"}, REQUIREMENT, "not_requested"),
        (ON_CALL, EMERGENCY, ApprovalRequirement(roles=("data-steward",)), "not_available"),
        (ON_CALL, EMERGENCY, None, "not_available"),
        ({**ON_CALL, "roles": ["sre"]}, EMERGENCY, REQUIREMENT, "role_not_allowed"),
        (ON_CALL, {"break_glass": True}, REQUIREMENT, "missing_reason"),
        (ON_CALL, {"break_glass": True, "break_glass_reason": "  "}, REQUIREMENT, "missing_reason"),
    ],
)
def test_without_every_condition_the_action_waits(
    escalation_record, now, principal, context, requirement, code
) -> None:
    record = escalation_record(principal=principal, context=context)
    outcome = break_glass(record, requirement, now)
    assert (outcome.allowed, outcome.reason_code, outcome.review) == (False, code, None)
    assert outcome.reason


def test_break_glass_is_asked_for_with_an_exact_true() -> None:
    assert break_glass_requested({"break_glass": True})
    assert not break_glass_requested({"break_glass": 1})
    assert not break_glass_requested(None)
