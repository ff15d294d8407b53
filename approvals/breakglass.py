"""Break-glass: in an emergency, a holder of a break-glass role proceeds without waiting.

The requester asks for it in the event's context (``break_glass: true`` and a
``break_glass_reason``). When the escalating rule names break-glass roles and the requester
holds one, the action is allowed at once, flagged, and a review escalation opens in the
same step: someone else (a holder of the rule's approver roles, never the requester or
whom they act for) must look at it after the fact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clearance.rules import ApprovalRequirement

from .escalation import EscalationState

__all__ = [
    "BREAK_GLASS_KEY",
    "BREAK_GLASS_REASON_KEY",
    "DEFAULT_REVIEW_SECONDS",
    "BreakGlassOutcome",
    "break_glass",
    "break_glass_refusal",
    "break_glass_requested",
    "review_id_for",
]

BREAK_GLASS_KEY = "break_glass"
"""Context key: ``true`` asks to proceed without waiting."""
BREAK_GLASS_REASON_KEY = "break_glass_reason"
"""Context key: why it is an emergency; required."""
DEFAULT_REVIEW_SECONDS = 24 * 3600
"""How long the after-the-fact review stays open before it times out."""


@dataclass(frozen=True, slots=True)
class BreakGlassOutcome:
    """Whether an escalated action may go ahead at once, and the review it opens.

    Attributes
    ----------
    allowed
        ``True``: allow the action now, flagged as break-glass.
    reason_code
        ``break_glass`` when allowed; otherwise ``not_requested``, ``not_available`` (the
        rule names no break-glass roles), ``role_not_allowed`` or ``missing_reason``; the
        normal escalation then applies.
    reason
        Human-readable explanation (for the flagged decision or the refusal).
    review
        When allowed: the review escalation, open from now on.
    """

    allowed: bool
    reason_code: str
    reason: str
    review: EscalationState | None = None


def review_id_for(escalation_id: str) -> str:
    """Deterministic id of the after-the-fact review of a break-glass action."""
    return hashlib.blake2b(f"review:{escalation_id}".encode(), digest_size=16).hexdigest()


def break_glass_requested(context: Mapping[str, Any] | None) -> bool:
    """The event's context asks for break-glass (``break_glass`` is exactly ``true``)."""
    return (context or {}).get(BREAK_GLASS_KEY) is True


def break_glass_refusal(
    context: Mapping[str, Any],
    principal: Mapping[str, Any],
    requirement: ApprovalRequirement | None,
    rule_ids: Sequence[str] = (),
) -> BreakGlassOutcome | None:
    """Why break-glass does not let an escalated action through; ``None`` when it does.

    Nothing is opened: :func:`break_glass` uses it before opening the review, and the
    re-check of an open session under a new policy version uses it alone.
    """
    if not break_glass_requested(context):
        return BreakGlassOutcome(False, "not_requested", "the event does not ask for break-glass")
    if requirement is None or not requirement.break_glass_roles:
        return BreakGlassOutcome(
            False,
            "not_available",
            f"rules {', '.join(rule_ids) or '(default)'} allow no "
            "break-glass; the action waits for review",
        )
    roles = requirement.break_glass_roles
    if not set(principal.get("roles", ())) & set(roles):
        return BreakGlassOutcome(
            False,
            "role_not_allowed",
            f"{principal['id']} holds none of the break-glass roles ({', '.join(roles)}); "
            "the action waits for review",
        )
    why = context.get(BREAK_GLASS_REASON_KEY)
    if not isinstance(why, str) or not why.strip():
        return BreakGlassOutcome(
            False,
            "missing_reason",
            f"break-glass needs context.{BREAK_GLASS_REASON_KEY}; the action waits for review",
        )
    return None


def break_glass(
    escalation: Mapping[str, Any],
    requirement: ApprovalRequirement | None,
    now_ms: int,
    *,
    review_seconds: int = DEFAULT_REVIEW_SECONDS,
) -> BreakGlassOutcome:
    """Decide whether the escalated action may proceed in an emergency.

    Parameters
    ----------
    escalation
        The Escalation record the decider built for the event (with its context).
    requirement
        The approval requirement of the rules that escalated.
    now_ms
        Epoch milliseconds; the review opens then.
    review_seconds
        How long the review stays open.
    """
    context = escalation.get("context") or {}
    principal = escalation["principal"]
    refused = break_glass_refusal(context, principal, requirement, escalation.get("rule_ids", []))
    if refused is not None:
        return refused
    assert requirement is not None  # no refusal: it names break-glass roles
    held = sorted(set(principal.get("roles", ())) & set(requirement.break_glass_roles))
    why = context[BREAK_GLASS_REASON_KEY]
    reason = f"break-glass by {principal['id']} as {', '.join(held)}: {why.strip()}"
    review = EscalationState.open(
        {
            **escalation,
            "escalation_id": review_id_for(escalation["escalation_id"]),
            "opened_at": now_ms,
            "expires_at": now_ms + review_seconds * 1000,
            "approver_roles": list(requirement.roles),
            "quorum": 1,
            "deny_quorum": 1,
        },
        requirement,
    )
    review.purpose = "break_glass_review"
    review.note = reason
    return BreakGlassOutcome(True, "break_glass", reason, review)
