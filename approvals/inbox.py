"""A reviewer's inbox: the open escalations they may decide.

The same checks as :meth:`EscalationState.apply` (not the requester's side, a human, one of
the required roles), so a reviewer is shown only what their verdict would count on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._identity import approver_problem
from .escalation import EscalationState
from .reviewers import Reviewer

__all__ = ["decidable_by", "may_decide", "why_not"]


def _approver(reviewer: Reviewer | Mapping[str, Any]) -> Mapping[str, Any]:
    return reviewer.as_approver() if isinstance(reviewer, Reviewer) else reviewer


def why_not(
    reviewer: Reviewer | Mapping[str, Any], escalation: EscalationState, now_ms: int
) -> tuple[str, str] | None:
    """``(reason_code, reason)`` why ``reviewer`` cannot decide ``escalation`` now, or ``None``.

    Codes are those of :class:`ApprovalOutcome`: ``not_open``, ``expired``,
    ``self_approval``, ``on_behalf_self_approval``, ``approver_not_human``,
    ``role_not_allowed``, ``duplicate_approver``.
    """
    approver = _approver(reviewer)
    if not escalation.is_open:
        return ("not_open", f"escalation {escalation.escalation_id} is {escalation.status}")
    if now_ms >= escalation.expires_at:
        return ("expired", f"escalation {escalation.escalation_id} has expired")
    problem = approver_problem(approver, escalation.principal, escalation.approver_roles)
    if problem is not None:
        return problem
    if approver["id"] in escalation.approvers or approver["id"] in escalation.deniers:
        return ("duplicate_approver", f"{approver['id']} already gave a verdict")
    return None


def may_decide(
    reviewer: Reviewer | Mapping[str, Any], escalation: EscalationState, now_ms: int
) -> bool:
    """Whether a verdict by ``reviewer`` on ``escalation`` would count now."""
    return why_not(reviewer, escalation, now_ms) is None


def decidable_by(
    reviewer: Reviewer | Mapping[str, Any],
    escalations: Iterable[EscalationState],
    now_ms: int,
) -> list[EscalationState]:
    """The escalations ``reviewer`` may decide now, soonest to expire first."""
    return sorted(
        (state for state in escalations if may_decide(reviewer, state, now_ms)),
        key=lambda state: (state.expires_at, state.escalation_id),
    )
