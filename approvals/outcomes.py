"""What happened to a reviewer's verdict, and to an escalation nobody decided in time."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = [
    "APPROVAL_REASON_CODES",
    "ApprovalOutcome",
    "EscalationStatus",
    "ExpiryOutcome",
    "TimeoutEffect",
]

EscalationStatus = Literal["open", "approved", "denied", "expired"]
TimeoutEffect = Literal["deny", "allow"]

APPROVAL_REASON_CODES: tuple[str, ...] = (
    "accepted",
    "malformed",
    "unsigned",
    "bad_signature",
    "unknown_kid",
    "payload_mismatch",
    "unknown_escalation",
    "replay",
    "not_open",
    "expired",
    "missing_reason",
    "invalid_grant_seconds",
    "self_approval",
    "on_behalf_self_approval",
    "approver_not_human",
    "role_not_allowed",
    "duplicate_approver",
)
"""Every :attr:`ApprovalOutcome.reason_code`, in the order the checks run."""


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    """What one verdict did: counted or rejected, why, and the escalation after it.

    Attributes
    ----------
    escalation_id, approval_id, approver_id, verdict
        From the approval (empty strings when the message lacked them).
    accepted
        ``True`` when the verdict counted toward the quorum or the deny quorum.
    reason_code
        ``accepted`` or the rejection, one of :data:`APPROVAL_REASON_CODES`.
    reason
        Human-readable explanation, for the audit trail and the reviewer.
    status
        The escalation's status after this verdict; ``None`` when no escalation was found.
    approvers, deniers
        Distinct ids counted so far, in arrival order.
    decided
        ``True`` when this verdict closed the escalation (quorum or deny quorum reached):
        the worker then emits the decision.
    signer
        Key id of the service that signed the approval, once its signature verified.
    """

    escalation_id: str
    approval_id: str
    approver_id: str
    verdict: str
    accepted: bool
    reason_code: str
    reason: str
    status: EscalationStatus | None
    approvers: tuple[str, ...] = ()
    deniers: tuple[str, ...] = ()
    decided: bool = False
    signer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, for the audit trail."""
        data = asdict(self)
        data["approvers"] = list(self.approvers)
        data["deniers"] = list(self.deniers)
        return data


@dataclass(frozen=True, slots=True)
class ExpiryOutcome:
    """An escalation closed because nobody decided it in time.

    Attributes
    ----------
    escalation_id
        The escalation.
    effect
        The timeout effect applied: ``deny`` (default) or ``allow``.
    expired_at
        When it was closed (the timer's time).
    approvers, deniers
        Verdicts counted before the timeout (not enough to decide).
    reason
        Human-readable explanation.
    """

    escalation_id: str
    effect: TimeoutEffect
    expired_at: int
    approvers: tuple[str, ...]
    deniers: tuple[str, ...]
    reason: str
