"""EscalationState: every check on a verdict, quorums, replays, expiry and its JSON form."""

from __future__ import annotations

import json

import pytest

from clearance.approvals import (
    EscalationState,
    SigningKeyPair,
    generate_keypair,
    signed_approval,
)
from clearance.rules import ApprovalRequirement

STEWARD = ("data-steward",)
LATER = 60_000


def test_one_approval_from_a_steward_approves(open_state, approval, keyring, now) -> None:
    state = open_state()
    outcome = state.apply(approval("user:carol"), now + LATER, keyring)
    assert (outcome.accepted, outcome.reason_code, outcome.status) == (True, "accepted", "approved")
    assert outcome.decided and outcome.approvers == ("user:carol",)
    assert outcome.signer == "reviewer-api"
    assert state.status == "approved" and state.closed_at == now + LATER


def test_quorum_of_two_needs_two_distinct_approvers(open_state, approval, keyring, now) -> None:
    state = open_state(ApprovalRequirement(roles=STEWARD, quorum=2))
    first = state.apply(approval("user:carol"), now + LATER, keyring)
    assert first.accepted and not first.decided and first.status == "open"
    second = state.apply(approval("user:dave"), now + LATER, keyring)
    assert second.accepted and second.decided and second.status == "approved"
    assert second.approvers == ("user:carol", "user:dave")


def test_the_same_approver_twice_counts_once(open_state, approval, keyring, now) -> None:
    state = open_state(ApprovalRequirement(roles=STEWARD, quorum=2))
    state.apply(approval("user:carol"), now + LATER, keyring)
    again = state.apply(approval("user:carol"), now + LATER, keyring)
    assert (again.accepted, again.reason_code, again.status) == (
        False,
        "duplicate_approver",
        "open",
    )
    assert state.approvers == ["user:carol"]
    # Changing one's mind is a second verdict too: it does not count as a denial.
    flip = state.apply(approval("user:carol", "deny"), now + LATER, keyring)
    assert flip.reason_code == "duplicate_approver" and state.deniers == []


def test_a_replayed_approval_changes_nothing(open_state, approval, keyring, now) -> None:
    state = open_state(ApprovalRequirement(roles=STEWARD, quorum=2))
    message = approval("user:carol")
    state.apply(message, now + LATER, keyring)
    before = state.to_dict()
    replay = state.apply(message, now + LATER, keyring)
    assert (replay.accepted, replay.reason_code) == (False, "replay")
    assert state.to_dict() == before


def test_a_replay_after_closing_is_reported_as_replay(open_state, approval, keyring, now) -> None:
    state = open_state()
    message = approval("user:carol")
    state.apply(message, now + LATER, keyring)
    assert state.apply(message, now + LATER, keyring).reason_code == "replay"
    late = state.apply(approval("user:dave"), now + LATER, keyring)
    assert (late.reason_code, late.status) == ("not_open", "approved")


def test_one_deny_closes_it_by_default(open_state, approval, keyring, now) -> None:
    state = open_state(ApprovalRequirement(roles=STEWARD, quorum=2))
    state.apply(approval("user:carol"), now + LATER, keyring)
    outcome = state.apply(approval("user:dave", "deny"), now + LATER, keyring)
    assert outcome.accepted and outcome.decided and outcome.status == "denied"
    assert outcome.deniers == ("user:dave",) and outcome.approvers == ("user:carol",)


def test_a_deny_threshold_of_two_needs_two_distinct_deniers(
    open_state, approval, keyring, now
) -> None:
    state = open_state(ApprovalRequirement(roles=STEWARD, quorum=3, deny_quorum=2))
    first = state.apply(approval("user:carol", "deny"), now + LATER, keyring)
    assert first.accepted and first.status == "open" and not first.decided
    same = state.apply(approval("user:carol", "deny"), now + LATER, keyring)
    assert same.reason_code == "duplicate_approver" and state.status == "open"
    second = state.apply(approval("user:dave", "deny"), now + LATER, keyring)
    assert second.decided and second.status == "denied"


def test_a_verdict_after_expiry_is_rejected(open_state, approval, keyring, now) -> None:
    state = open_state()
    outcome = state.apply(approval("user:carol"), state.expires_at, keyring)
    assert (outcome.accepted, outcome.reason_code, outcome.status) == (False, "expired", "open")
    assert state.approvers == []


def test_expire_closes_an_undecided_escalation_as_deny(open_state, approval, keyring) -> None:
    state = open_state(ApprovalRequirement(roles=STEWARD, quorum=2))
    state.apply(approval("user:carol"), state.opened_at + LATER, keyring)
    assert state.expire(state.expires_at - 1) is None and state.status == "open"
    expired = state.expire(state.expires_at)
    assert expired is not None
    assert (expired.effect, expired.approvers, state.status) == ("deny", ("user:carol",), "expired")
    assert "1 of 2 approvals" in expired.reason
    assert state.expire(state.expires_at + 1) is None  # closes once


def test_the_timeout_effect_is_configurable(open_state) -> None:
    state = open_state()
    expired = state.expire(state.expires_at, timeout_effect="allow")
    assert expired is not None and expired.effect == "allow" and state.status == "expired"


def test_a_decided_escalation_does_not_expire(open_state, approval, keyring, now) -> None:
    state = open_state()
    state.apply(approval("user:carol"), now + LATER, keyring)
    assert state.expire(state.expires_at) is None and state.status == "approved"


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_reason_is_required(open_state, approval, keyring, now, reason) -> None:
    message = approval("user:carol", reason=reason, schema_check=False)
    outcome = open_state().apply(message, now + LATER, keyring)
    assert (outcome.accepted, outcome.reason_code) == (False, "missing_reason")


@pytest.mark.parametrize("seconds", [0, -30])
def test_an_approval_granting_no_time_is_rejected(
    open_state, approval, keyring, now, seconds
) -> None:
    outcome = open_state().apply(approval(grant_seconds=seconds), now + LATER, keyring)
    assert outcome.reason_code == "invalid_grant_seconds"


def test_an_approver_without_a_required_role_is_rejected(open_state, approval, keyring, now):
    outcome = open_state().apply(approval("user:erin", roles=["sre"]), now + LATER, keyring)
    assert (outcome.accepted, outcome.reason_code) == (False, "role_not_allowed")
    assert "data-steward" in outcome.reason


def test_an_escalation_naming_no_roles_can_be_decided_by_nobody(
    escalation_record, approval, keyring, now
) -> None:
    state = EscalationState.open(escalation_record(approver_roles=[]))
    outcome = state.apply(approval("user:carol"), now + LATER, keyring)
    assert outcome.reason_code == "role_not_allowed"


def test_the_requester_cannot_approve_itself(open_state, approval, keyring, now) -> None:
    outcome = open_state().apply(
        approval("agent:etl-7", approver_type="agent", on_behalf_of="user:alice"),
        now + LATER,
        keyring,
    )
    assert (outcome.accepted, outcome.reason_code) == (False, "self_approval")


def test_the_human_an_agent_works_for_cannot_approve_its_request(
    open_state, approval, keyring, now
) -> None:
    # agent:etl-7 acts on behalf of user:alice, who holds the approver role.
    outcome = open_state().apply(approval("user:alice"), now + LATER, keyring)
    assert (outcome.accepted, outcome.reason_code) == (False, "on_behalf_self_approval")


def test_an_agent_cannot_approve_for_the_human_who_asked(
    open_state, approval, keyring, now
) -> None:
    human_request = open_state(principal={"id": "user:alice", "type": "human", "roles": []})
    outcome = human_request.apply(
        approval("agent:helper", approver_type="agent", on_behalf_of="user:alice"),
        now + LATER,
        keyring,
    )
    assert outcome.reason_code == "on_behalf_self_approval"


def test_two_agents_working_for_the_same_human_cannot_approve_each_other(
    open_state, approval, keyring, now
) -> None:
    outcome = open_state().apply(
        approval("agent:reviewer-bot", approver_type="agent", on_behalf_of="user:alice"),
        now + LATER,
        keyring,
    )
    assert outcome.reason_code == "on_behalf_self_approval"


def test_there_is_no_admin_exemption_from_self_approval(open_state, approval, keyring, now):
    admin = ("security-admin",)
    state = open_state(
        ApprovalRequirement(roles=admin),
        principal={"id": "user:sam", "type": "human", "roles": list(admin)},
    )
    outcome = state.apply(approval("user:sam", roles=list(admin)), now + LATER, keyring)
    assert (outcome.accepted, outcome.reason_code, state.status) == (False, "self_approval", "open")


def test_only_a_human_may_approve(open_state, approval, keyring, now) -> None:
    outcome = open_state().apply(
        approval("service:auto-approver", approver_type="service"), now + LATER, keyring
    )
    assert outcome.reason_code == "approver_not_human"


def test_an_unsigned_approval_is_rejected(open_state, approval, keyring, now) -> None:
    state = open_state()
    outcome = state.apply(approval(sign=False), now + LATER, keyring)
    assert (outcome.accepted, outcome.reason_code, outcome.status) == (False, "unsigned", None)
    assert state.approvers == [] and state.approval_ids == []


def test_a_forged_signature_is_rejected(open_state, approval, keyring, now) -> None:
    # A writer to the topic with its own key under the trusted kid.
    forger = generate_keypair("reviewer-api")
    forged = signed_approval(approval(sign=False), forger.private_key, forger.kid)
    outcome = open_state().apply(forged, now + LATER, keyring)
    assert outcome.reason_code == "bad_signature"


def test_an_approval_signed_by_an_unknown_key_is_rejected(
    open_state, approval, keyring, now
) -> None:
    stranger: SigningKeyPair = generate_keypair("someone-else")
    message = signed_approval(approval(sign=False), stranger.private_key, stranger.kid)
    assert open_state().apply(message, now + LATER, keyring).reason_code == "unknown_kid"


def test_an_approval_changed_after_signing_is_rejected(open_state, approval, keyring, now):
    tampered = approval("user:erin", roles=["sre"])
    tampered["approver"] = {**tampered["approver"], "roles": ["data-steward"]}
    outcome = open_state().apply(tampered, now + LATER, keyring)
    assert outcome.reason_code == "payload_mismatch"


def test_a_malformed_approval_is_rejected_with_the_field(open_state, approval, keyring, now):
    outcome = open_state().apply(
        approval(sign=False, schema_check=False, verdict="maybe"), now + LATER, keyring
    )
    assert outcome.reason_code == "malformed" and "verdict" in outcome.reason


def test_a_verdict_for_another_escalation_is_not_counted(open_state, approval, keyring, now):
    state = open_state()
    outcome = state.apply(approval(escalation_id="esc-other"), now + LATER, keyring)
    assert outcome.reason_code == "unknown_escalation" and state.approvers == []


def test_message_checks_come_before_identity_checks(open_state, approval, keyring, now) -> None:
    # Self-approval without a reason reports the missing reason; after expiry, expiry.
    state = open_state()
    no_reason = state.apply(approval("user:alice", reason=""), now + LATER, keyring)
    assert no_reason.reason_code == "missing_reason"
    late = state.apply(approval("user:alice"), state.expires_at, keyring)
    assert late.reason_code == "expired"


def test_a_quorum_below_one_is_raised_to_one(escalation_record, approval, keyring, now) -> None:
    state = EscalationState.open(escalation_record(quorum=0, deny_quorum=0))
    assert (state.quorum, state.deny_quorum) == (1, 1)
    assert state.apply(approval("user:carol"), now + LATER, keyring).status == "approved"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1800, 1800), ("600", 600), (90.0, 90), (0, None), (-5, None), (True, None), ("x", None)],
)
def test_the_requested_duration_comes_from_the_context(open_state, value, expected) -> None:
    state = open_state(context={"requested_seconds": value})
    assert state.requested_seconds == expected


def test_the_grant_kind_and_limits_come_from_the_requirement(open_state) -> None:
    state = open_state(
        ApprovalRequirement(roles=STEWARD, grant="window", max_duration_seconds=7200)
    )
    assert (state.grant_kind, state.max_duration_seconds) == ("window", 7200)


def test_the_shortest_duration_an_approver_allows_is_kept(open_state, approval, keyring, now):
    state = open_state(
        ApprovalRequirement(roles=STEWARD, quorum=2, grant="window", max_duration_seconds=3600),
        context={"requested_seconds": 3000},
    )
    state.apply(approval("user:carol", grant_seconds=1200), now + LATER, keyring)
    state.apply(approval("user:dave", grant_seconds=2400), now + LATER, keyring)
    assert state.approved_seconds == 1200 and state.grant_seconds() == 1200


def test_the_state_survives_a_json_round_trip(open_state, approval, keyring, now) -> None:
    state = open_state(ApprovalRequirement(roles=STEWARD, quorum=2))
    first = approval("user:carol")
    state.apply(first, now + LATER, keyring)
    restored = EscalationState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert restored.apply(first, now + LATER, keyring).reason_code == "replay"
    assert restored.apply(approval("user:dave"), now + LATER, keyring).status == "approved"
