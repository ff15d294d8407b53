"""Open sessions re-checked under a new policy version (the policy flow calls it).

Each open session's last allowed action is decided again under the new version. The session
stays when the version allows it, or escalates it and the principal still holds a grant that
covers it (a window grant, or the one-time grant this very action spent) or break-glass
would let it through again. Otherwise (deny, revoke, or an escalation nothing covers) the
session is closed: a ``revoke`` decision (``event_kind: policy``) and a CAEP
``session-revoked`` revocation naming the session, both citing the version.
"""

from __future__ import annotations

from typing import Any

from clearance.approvals import break_glass_refusal
from clearance.rules import CompiledPolicy, Verdict

from .approval_state import ApprovalState
from .decide import Decider, InputMessage, OutputMessage, decision_id_for
from .revocations import session_revocation_for
from .session_book import recheck_event
from .sessions import SessionState

__all__ = ["recheck_sessions", "still_allowed"]


def still_allowed(
    verdict: Verdict, event: dict[str, Any], gate: ApprovalState | None, now_ms: int
) -> bool:
    """Whether an action decided again as ``verdict`` may go on in its session."""
    if verdict.effect == "allow":
        return True
    if verdict.effect != "escalate":
        return False
    if gate is not None and gate.covering_grant(event, now_ms) is not None:
        return True
    return break_glass_refusal(event["context"], event["principal"], verdict.approval) is None


def recheck_sessions(
    policy: CompiledPolicy,
    sessions: SessionState,
    gate: ApprovalState | None,
    decider: Decider,
    partition: int,
    now_ms: int,
) -> list[OutputMessage]:
    """Close the open sessions of ``partition`` that ``policy`` no longer allows; the
    decisions and revocations to publish. Sessions it still allows are marked as decided
    under it, so they are not looked at again for this version."""
    stale = sessions.to_recheck(partition, policy.version, now_ms)
    if not stale:
        return []
    events = [recheck_event(session, now_ms) for _, _, session in stale]
    verdicts = policy.decide_many(events, "action")
    source = InputMessage("", partition, -1, None, None, now_ms)
    out: list[OutputMessage] = []
    for (principal_id, session_id, _), event, verdict in zip(stale, events, verdicts, strict=True):
        if still_allowed(verdict, event, gate, now_ms):
            sessions.keep(principal_id, session_id, policy.version)
            continue
        if sessions.close(principal_id, session_id) is None:
            continue
        resource = event["resource"]
        why = f"policy {policy.version} decides {verdict.effect} for {event['action']} on "
        why += f"{resource['id']}" + (
            " and no live grant covers it" if verdict.effect == "escalate" else ""
        )
        decision = decider.decision_record(event, verdict, source, now_ms)
        decision.update(
            decision_id=decision_id_for(
                "policy", f"{policy.version}:session:{principal_id}:{session_id}"
            ),
            event_kind="policy",
            effect="revoke",
            escalation_id=None,
            reasons=[f"session {session_id} revoked: {why}", *verdict.reasons],
        )
        revocation = session_revocation_for(
            event["principal"],
            session_id,
            reason_code="policy_change",
            reason=decision["reasons"][0],
            policy_version=policy.version,
            now_ms=now_ms,
            cause=policy.version,
            decision_id=decision["decision_id"],
            rule_ids=list(verdict.rule_ids),
        )
        out.extend(decider.revoke_outputs(principal_id.encode(), decision, revocation, source))
    return out
