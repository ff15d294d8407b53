"""An escalation waiting for reviewers, and the verdicts that decide it.

:class:`EscalationState` is one escalation: what was asked (principal, action, resource),
who may decide it (roles, quorum, deny quorum) and what approving grants (one-time or a time
window). :meth:`EscalationState.apply` runs every check on one reviewer's verdict and returns
an :class:`ApprovalOutcome` that says whether it counted and why; nothing is ever dropped
silently.

Every state here is plain JSON data and every method takes the time as epoch milliseconds,
so the same code runs in a worker, a test or a replay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from clearance.rules import ApprovalRequirement

from ._checks import shape_and_signature
from ._identity import approver_problem
from .grants import DEFAULT_ONE_TIME_SECONDS, grant_duration_seconds
from .outcomes import ApprovalOutcome, EscalationStatus, ExpiryOutcome, TimeoutEffect
from .signing import Keyring

__all__ = ["REQUESTED_SECONDS_KEY", "EscalationState", "Purpose"]

Purpose = Literal["approval", "break_glass_review"]

REQUESTED_SECONDS_KEY = "requested_seconds"
"""Context key in which a requester asks for a window grant's duration, in seconds."""


def _requested_seconds(context: Mapping[str, Any] | None) -> int | None:
    """The duration a requester asked for, or ``None`` when absent or not a positive number."""
    value = (context or {}).get(REQUESTED_SECONDS_KEY)
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and value >= 1:
        return int(value)
    return None


def _principal(value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": value["id"],
        "type": value.get("type", "human"),
        "roles": list(value.get("roles", [])),
        "on_behalf_of": value.get("on_behalf_of"),
    }


@dataclass(slots=True)
class EscalationState:
    """One escalation and the verdicts counted on it; plain JSON data via :meth:`to_dict`.

    Build it with :meth:`open` from an Escalation record (``schemas/Escalation.avsc``) and the
    rule's :class:`ApprovalRequirement`. Only :meth:`apply` and :meth:`expire` change it.

    Attributes
    ----------
    escalation_id, decision_id, event_id
        The escalation, the escalate decision that opened it and the event waiting.
    opened_at, expires_at
        Epoch milliseconds; at ``expires_at`` an undecided escalation closes.
    principal, action, resource, session_id
        Who asked to do what, where (the grant's scope).
    rule_ids, reasons, policy_version
        Why review was demanded, under which policy.
    approver_roles, quorum, deny_quorum
        An approver holds one of the roles; ``quorum`` distinct approvals grant,
        ``deny_quorum`` distinct denials close it as denied.
    grant_kind, max_duration_seconds, one_time_seconds, requested_seconds
        What approving grants: see :func:`grant_duration_seconds`.
    purpose
        ``approval`` (the action waits) or ``break_glass_review`` (the action went ahead in
        an emergency and is reviewed after the fact).
    status
        ``open``, ``approved``, ``denied`` or ``expired``.
    approvers, deniers
        Distinct ids counted, in arrival order.
    approval_ids
        Ids of every signed verdict seen, counted or not: a replay changes nothing.
    approved_seconds
        Shortest grant duration an approver allowed, when any set one.
    closed_at
        When it stopped being open.
    note
        Extra context for reviewers, such as a break-glass justification.
    context
        The escalated event's context, so a grant can be decided again under a new policy
        version with the facts it was approved on.
    """

    escalation_id: str
    decision_id: str
    event_id: str
    opened_at: int
    expires_at: int
    principal: dict[str, Any]
    action: str
    resource: dict[str, Any]
    session_id: str | None
    rule_ids: list[str]
    reasons: list[str]
    policy_version: str
    approver_roles: list[str]
    quorum: int = 1
    deny_quorum: int = 1
    grant_kind: str = "one_time"
    max_duration_seconds: int = 3600
    one_time_seconds: int = DEFAULT_ONE_TIME_SECONDS
    requested_seconds: int | None = None
    purpose: Purpose = "approval"
    status: EscalationStatus = "open"
    approvers: list[str] = field(default_factory=list)
    deniers: list[str] = field(default_factory=list)
    approval_ids: list[str] = field(default_factory=list)
    approved_seconds: int | None = None
    closed_at: int | None = None
    note: str | None = None
    context: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        escalation: Mapping[str, Any],
        requirement: ApprovalRequirement | None = None,
        *,
        one_time_seconds: int = DEFAULT_ONE_TIME_SECONDS,
    ) -> EscalationState:
        """The state of a newly opened escalation.

        Parameters
        ----------
        escalation
            The Escalation record the decider published.
        requirement
            The (merged) approval requirement of the rules that escalated; gives the grant
            kind and maximum duration. Roles and quorums come from the record, which is
            what reviewers were shown. ``None`` means a one-time grant.
        one_time_seconds
            How long a one-time grant stays usable.
        """
        requirement = requirement or ApprovalRequirement(
            roles=tuple(escalation.get("approver_roles", ()))
        )
        # A quorum below one would grant without any reviewer; the record cannot ask for that.
        return cls(
            escalation_id=escalation["escalation_id"],
            decision_id=escalation["decision_id"],
            event_id=escalation["event_id"],
            opened_at=int(escalation["opened_at"]),
            expires_at=int(escalation["expires_at"]),
            principal=_principal(escalation["principal"]),
            action=escalation["action"],
            resource=dict(escalation["resource"]),
            session_id=escalation.get("session_id"),
            rule_ids=list(escalation.get("rule_ids", [])),
            reasons=list(escalation.get("reasons", [])),
            policy_version=escalation.get("policy_version", ""),
            approver_roles=list(escalation.get("approver_roles", requirement.roles)),
            quorum=max(1, int(escalation.get("quorum", requirement.quorum))),
            deny_quorum=max(1, int(escalation.get("deny_quorum", requirement.deny_quorum))),
            grant_kind=requirement.grant,
            max_duration_seconds=requirement.max_duration_seconds,
            one_time_seconds=one_time_seconds,
            requested_seconds=_requested_seconds(escalation.get("context")),
            context=dict(escalation.get("context") or {}),
        )

    @property
    def is_open(self) -> bool:
        """Still waiting for verdicts."""
        return self.status == "open"

    def is_due(self, now_ms: int) -> bool:
        """Open and past ``expires_at``: the timeout applies."""
        return self.is_open and now_ms >= self.expires_at

    def grant_seconds(self) -> int:
        """How long the grant issued on approval lasts (see :func:`grant_duration_seconds`)."""
        return grant_duration_seconds(
            self.grant_kind,
            requested_seconds=self.requested_seconds,
            approved_seconds=self.approved_seconds,
            max_duration_seconds=self.max_duration_seconds,
            one_time_seconds=self.one_time_seconds,
        )

    def apply(self, approval: Mapping[str, Any], now_ms: int, keyring: Keyring) -> ApprovalOutcome:
        """Check one verdict and count it when every check passes.

        The checks run in this order; the first that fails is the outcome's ``reason_code``
        and leaves the state unchanged (except that a signed verdict's id is remembered):

        1. ``malformed``: not shaped like an Approval;
        2. ``unsigned``, ``bad_signature``, ``unknown_kid``, ``payload_mismatch``: the
           signature does not prove a reviewer service in ``keyring`` vouched for it;
        3. ``unknown_escalation``: it names another escalation;
        4. ``replay``: a verdict with this ``approval_id`` was already seen;
        5. ``not_open``: the escalation is already approved, denied or expired;
        6. ``expired``: ``now_ms`` is at or past ``expires_at``;
        7. ``missing_reason``: the reason is empty;
        8. ``invalid_grant_seconds``: an approval allowing zero or fewer seconds;
        9. ``self_approval``, ``on_behalf_self_approval``, ``approver_not_human``,
           ``role_not_allowed``: see :func:`approver_problem`;
        10. ``duplicate_approver``: this approver already gave a verdict (one voice each).

        Otherwise the verdict counts: ``quorum`` distinct approvals approve,
        ``deny_quorum`` distinct denials deny.
        """
        rejected = shape_and_signature(approval, keyring)
        if isinstance(rejected, ApprovalOutcome):
            return rejected
        return self.apply_verified(approval, now_ms, signer=rejected)

    def apply_verified(
        self, approval: Mapping[str, Any], now_ms: int, *, signer: str
    ) -> ApprovalOutcome:
        """:meth:`apply` for a verdict whose shape and signature were already checked."""
        approval_id = approval["approval_id"]
        approver = approval["approver"]
        verdict = approval["verdict"]

        def outcome(code: str, reason: str, *, decided: bool = False) -> ApprovalOutcome:
            return ApprovalOutcome(
                escalation_id=self.escalation_id,
                approval_id=approval_id,
                approver_id=approver["id"],
                verdict=verdict,
                accepted=code == "accepted",
                reason_code=code,
                reason=reason,
                status=self.status,
                approvers=tuple(self.approvers),
                deniers=tuple(self.deniers),
                decided=decided,
                signer=signer,
            )

        if approval["escalation_id"] != self.escalation_id:
            return outcome(
                "unknown_escalation",
                f"approval {approval_id} is for escalation {approval['escalation_id']}, "
                f"not {self.escalation_id}",
            )
        if approval_id in self.approval_ids:
            return outcome(
                "replay", f"approval {approval_id} was already processed; it changes nothing"
            )
        self.approval_ids.append(approval_id)
        if not self.is_open:
            return outcome("not_open", f"escalation {self.escalation_id} is already {self.status}")
        if now_ms >= self.expires_at:
            return outcome(
                "expired",
                f"escalation {self.escalation_id} expired at {self.expires_at} "
                f"(verdict processed at {now_ms})",
            )
        if not (approval.get("reason") or "").strip():
            return outcome(
                "missing_reason", f"approval {approval_id} gives no reason; a reason is required"
            )
        grant_seconds = approval.get("grant_seconds")
        if verdict == "approve" and grant_seconds is not None and grant_seconds < 1:
            return outcome(
                "invalid_grant_seconds",
                f"approval {approval_id} allows {grant_seconds} seconds; give at least 1 "
                "or leave grant_seconds out",
            )
        problem = approver_problem(approver, self.principal, self.approver_roles)
        if problem is not None:
            return outcome(*problem)
        if approver["id"] in self.approvers or approver["id"] in self.deniers:
            earlier = "approved" if approver["id"] in self.approvers else "denied"
            return outcome(
                "duplicate_approver",
                f"{approver['id']} already {earlier} escalation {self.escalation_id}; "
                "each reviewer counts once",
            )
        return self._count(approver["id"], verdict, grant_seconds, now_ms, outcome)

    def _count(
        self,
        approver_id: str,
        verdict: str,
        grant_seconds: int | None,
        now_ms: int,
        outcome: Callable[..., ApprovalOutcome],
    ) -> ApprovalOutcome:
        if verdict == "approve":
            self.approvers.append(approver_id)
            if grant_seconds is not None:
                self.approved_seconds = min(grant_seconds, self.approved_seconds or grant_seconds)
            if len(self.approvers) >= self.quorum:
                self.status, self.closed_at = "approved", now_ms
                return outcome(
                    "accepted",
                    f"approved by {', '.join(self.approvers)} "
                    f"({len(self.approvers)} of {self.quorum} needed)",
                    decided=True,
                )
            return outcome(
                "accepted",
                f"approval {len(self.approvers)} of {self.quorum} needed, by {approver_id}",
            )
        self.deniers.append(approver_id)
        if len(self.deniers) >= self.deny_quorum:
            self.status, self.closed_at = "denied", now_ms
            return outcome(
                "accepted",
                f"denied by {', '.join(self.deniers)} "
                f"({len(self.deniers)} of {self.deny_quorum} needed)",
                decided=True,
            )
        return outcome(
            "accepted", f"denial {len(self.deniers)} of {self.deny_quorum} needed, by {approver_id}"
        )

    def expire(self, now_ms: int, timeout_effect: TimeoutEffect = "deny") -> ExpiryOutcome | None:
        """Close the escalation as ``expired`` if it is open and due; ``None`` otherwise.

        ``timeout_effect`` is the effect the worker's decision carries: ``deny`` unless the
        deployment chose to fail open with ``allow``.
        """
        if not self.is_due(now_ms):
            return None
        self.status, self.closed_at = "expired", now_ms
        return ExpiryOutcome(
            escalation_id=self.escalation_id,
            effect=timeout_effect,
            expired_at=now_ms,
            approvers=tuple(self.approvers),
            deniers=tuple(self.deniers),
            reason=(
                f"escalation {self.escalation_id} was not decided by {self.expires_at} "
                f"({len(self.approvers)} of {self.quorum} approvals, {len(self.deniers)} of "
                f"{self.deny_quorum} denials); timeout effect {timeout_effect}"
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_dict` restores it.

        The lists that change after opening are copied; the rest is shared, as nothing
        changes it (``dataclasses.asdict`` deep-copies everything: this is on the hot path).
        """
        data = {name: getattr(self, name) for name in _FIELDS}
        for name in _GROWING:
            data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EscalationState:
        """The state :meth:`to_dict` wrote."""
        return cls(**data)


_FIELDS = tuple(f.name for f in fields(EscalationState))
_GROWING = ("approvers", "deniers", "approval_ids")
