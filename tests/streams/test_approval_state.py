"""The decider's approvals collaborator without Kafka: escalate, approve, grant, expire."""

from __future__ import annotations

from typing import Any

from clearance.approvals import generate_keypair, signed_approval
from clearance.rules import DEFAULT_PACK_PATH, compile_pack, load_pack
from clearance.schemas import Codec
from clearance.streams.approval_state import ApprovalState
from clearance.streams.approval_store import MemoryApprovalStore
from clearance.streams.decide import Decider, InputMessage, TopicNames

KEY = generate_keypair("api")
EVENT = {
    "event_id": "e-1",
    "occurred_at": 1_795_428_000_000,
    "principal": {"id": "agent:etl", "type": "agent", "roles": [], "on_behalf_of": "user:alice"},
    "action": "data.export",
    "resource": {"type": "dataset", "id": "c", "environment": "prod", "sensitivity": "restricted"},
    "session_id": None,
    "context": {},
}


def _decider() -> tuple[Decider, ApprovalState]:
    from clearance.approvals import Keyring

    state = ApprovalState(Keyring({"api": KEY.public_key}), MemoryApprovalStore())
    policy = compile_pack(load_pack(DEFAULT_PACK_PATH))
    return Decider(policy, TopicNames.with_prefix("t."), "json", approvals=state), state


def _decide(decider: Decider, event: dict[str, Any], partition: int = 0) -> dict[str, Any]:
    value = Codec("ActionEvent").encode(event, "json")
    outputs = decider.decide_batch(
        [InputMessage("t.actions", partition, 0, b"k", value, event["occurred_at"])]
    )
    return Codec("Decision").decode(outputs[0].value)


def _approve(state: ApprovalState, escalation_id: str, now: int) -> Any:
    approval = signed_approval(
        {
            "approval_id": "a-1",
            "escalation_id": escalation_id,
            "verdict": "approve",
            "approver": {"id": "user:bob", "type": "human", "roles": ["data-steward"]},
            "reason": "ok",
            "decided_at": now,
        },
        KEY.private_key,
        "api",
    )
    return state.apply("agent:etl", 0, approval, now)


def test_an_approved_one_time_grant_allows_one_later_event_then_expires() -> None:
    decider, state = _decider()
    escalated = _decide(decider, EVENT)
    assert escalated["effect"] == "escalate"
    now = escalated["decided_at"]
    outcome, escalation, grant = _approve(state, escalated["escalation_id"], now)
    assert outcome.decided and escalation is not None and grant is not None
    allowed = _decide(decider, {**EVENT, "event_id": "e-2"})
    assert allowed["effect"] == "allow" and allowed["grant_id"] == grant.grant_id
    assert allowed["approvers"] == ["user:bob"]
    assert _decide(decider, {**EVENT, "event_id": "e-3"})["effect"] == "escalate"
    # Only owned partitions are looked at; the grant is revoked once, at its expiry.
    assert state.due(["agent:etl"], {1}, grant.expires_at) == ([], [])
    _, revoked = state.due(["agent:etl"], {0}, grant.expires_at)
    assert [g.grant_id for _, _, g in revoked] == [grant.grant_id]
    assert state.due(["agent:etl"], {0}, grant.expires_at)[1] == []


def test_an_unsigned_approval_is_rejected_and_grants_nothing() -> None:
    decider, state = _decider()
    escalated = _decide(decider, EVENT)
    approval = {
        "approval_id": "a-9",
        "escalation_id": escalated["escalation_id"],
        "verdict": "approve",
        "approver": {"id": "user:bob", "type": "human", "roles": ["data-steward"]},
        "reason": "ok",
        "decided_at": escalated["decided_at"],
    }
    outcome, _, grant = state.apply("agent:etl", 0, approval, escalated["decided_at"] + 1)
    assert (outcome.reason_code, grant) == ("unsigned", None)
    assert _decide(decider, {**EVENT, "event_id": "e-4"})["effect"] == "escalate"
