"""Records the approvals flow publishes: outcomes, closing decisions, grant revocations.

Plain functions over the approvals library's state (no Faust), so the agent, the timer and
the tests build the same records. Every id is deterministic, so a redelivered approval or a
timer that fires again after a crash maps to the row it made the first time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from clearance.approvals import ApprovalOutcome, EscalationState, ExpiryOutcome, Grant

from .decide import InputMessage, decision_id_for
from .revocations import grant_revocation_for

__all__ = [
    "closing_decision",
    "grant_revocation",
    "outcome_id_for",
    "review_revocation",
    "timeout_record",
    "verdict_record",
]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def outcome_id_for(topic: str, partition: int, offset: int) -> str:
    """Id of the outcome of the approval message at topic[partition]@offset."""
    return _digest(f"outcome:{topic}:{partition}:{offset}")


def _escalation_fields(state: EscalationState | None) -> dict[str, Any]:
    if state is None:
        return {"purpose": None, "event_id": None, "action": None, "resource_id": None}
    return {
        "purpose": state.purpose,
        "event_id": state.event_id,
        "action": state.action,
        "resource_id": state.resource.get("id"),
        "rule_ids": list(state.rule_ids),
        "policy_version": state.policy_version,
    }


def verdict_record(
    outcome: ApprovalOutcome,
    approval: Mapping[str, Any],
    state: EscalationState | None,
    principal_id: str,
    source: InputMessage,
    now_ms: int,
    decision_id: str | None = None,
    grant: Grant | None = None,
) -> dict[str, Any]:
    """The ApprovalOutcome record of one verdict (``schemas/ApprovalOutcome.avsc``)."""
    approver = approval.get("approver") or {}
    return {
        "outcome_id": outcome_id_for(source.topic, source.partition, source.offset),
        "recorded_at": now_ms,
        "kind": "verdict",
        "approval_id": outcome.approval_id,
        "escalation_id": outcome.escalation_id,
        "principal_id": principal_id,
        "verdict": outcome.verdict,
        "approver_id": outcome.approver_id,
        "approver_type": str(approver.get("type") or ""),
        "approver_roles": list(approver.get("roles") or []),
        "approver_on_behalf_of": approver.get("on_behalf_of"),
        "reviewer_reason": str(approval.get("reason") or ""),
        "accepted": outcome.accepted,
        "reason_code": outcome.reason_code,
        "reason": outcome.reason,
        "status": outcome.status,
        "decided": outcome.decided,
        "approvers": list(outcome.approvers),
        "deniers": list(outcome.deniers),
        "signer": outcome.signer,
        **_escalation_fields(state),
        "decision_id": decision_id,
        "grant_id": grant.grant_id if grant else None,
        "grant_expires_at": grant.expires_at if grant else None,
        "source_topic": source.topic,
        "source_partition": source.partition,
        "source_offset": source.offset,
    }


def timeout_record(
    state: EscalationState, expiry: ExpiryOutcome, decision_id: str | None
) -> dict[str, Any]:
    """The ApprovalOutcome record of an escalation nobody decided in time."""
    return {
        "outcome_id": _digest(f"timeout:{state.escalation_id}"),
        "recorded_at": expiry.expired_at,
        "kind": "timeout",
        "escalation_id": state.escalation_id,
        "principal_id": state.principal["id"],
        "accepted": False,
        "reason_code": "timeout",
        "reason": expiry.reason,
        "status": state.status,
        "decided": True,
        "approvers": list(expiry.approvers),
        "deniers": list(expiry.deniers),
        **_escalation_fields(state),
        "decision_id": decision_id,
    }


def closing_decision(
    state: EscalationState,
    *,
    kind: str,
    effect: str,
    reason: str,
    approvers: Sequence[str],
    now_ms: int,
    source: InputMessage | None = None,
    grant: Grant | None = None,
) -> dict[str, Any]:
    """The Decision that answers the escalated event once its escalation closes.

    ``kind`` is ``approval`` (a verdict closed it) or ``timer`` (it timed out); the id is
    deterministic from the escalation, distinct from the escalate decision it follows.
    """
    return {
        "decision_id": decision_id_for(kind, state.escalation_id),
        "event_id": state.event_id,
        "event_kind": kind,
        "decided_at": now_ms,
        # The escalate decision's time: stable across redelivery, as the audit key needs.
        "occurred_at": state.opened_at,
        "principal": state.principal,
        "action": state.action,
        "resource": state.resource,
        "session_id": state.session_id,
        "effect": effect,
        "rule_ids": list(state.rule_ids),
        "reasons": [reason, *state.reasons],
        "severity": "info",
        "policy_version": state.policy_version,
        "detector_scores": {},
        "explanations": [],
        "escalation_id": state.escalation_id,
        "approvers": list(approvers),
        "grant_id": grant.grant_id if grant else None,
        "grant_expires_at": grant.expires_at if grant else None,
        "latency_ms": float(max(0, now_ms - source.timestamp_ms)) if source else 0.0,
        "source_topic": source.topic if source else "",
        "source_partition": source.partition if source else -1,
        "source_offset": source.offset if source else -1,
    }


def grant_revocation(
    principal: Mapping[str, Any], grant: Grant, policy_version: str, now_ms: int
) -> dict[str, Any]:
    """The Revocation published when a grant expires."""
    return grant_revocation_for(
        principal,
        grant,
        reason_code="grant_expired",
        reason=f"{grant.kind} grant {grant.grant_id} (escalation {grant.escalation_id}) "
        f"expired at {grant.expires_at}",
        policy_version=policy_version,
        now_ms=now_ms,
        cause="",
    )


def review_revocation(state: EscalationState, reason: str, now_ms: int) -> dict[str, Any]:
    """The Revocation published when a break-glass review is denied after the fact."""
    return {
        "revocation_id": _digest(f"review_denied:{state.escalation_id}"),
        "revoked_at": now_ms,
        "subject": state.principal,
        "session_id": state.session_id,
        "grant_id": None,
        "action": state.action,
        "resource": state.resource,
        "reason_code": "break_glass_denied",
        "reason": reason,
        "rule_ids": list(state.rule_ids),
        "policy_version": state.policy_version,
        "decision_id": None,
    }
