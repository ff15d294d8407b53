"""The outcome of deciding one event, and how fired escalate rules' approvals combine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._model import SEVERITIES, ApprovalRequirement, Effect, Rule, Severity

__all__ = ["Verdict", "merge_approvals"]

_SEVERITY_RANK: dict[str, int] = {severity: index for index, severity in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy's answer for one event.

    Attributes
    ----------
    effect
        ``allow``, ``deny``, ``escalate`` or ``revoke``: the strongest effect among the
        fired rules (deny > revoke > escalate > allow), or the pack's default effect.
    rule_ids
        Ids of every fired rule, in pack order; empty when none fired.
    reasons
        One human reason per entry of ``rule_ids``; when none fired, one reason naming the
        default effect.
    severity
        Highest severity among the fired rules; the pack's default severity when none fired.
    approval
        When ``effect`` is ``escalate``: the strictest combination of the fired escalate
        rules' requirements (see :func:`merge_approvals`); otherwise ``None``.
    policy_version
        Version of the pack that decided.
    condition_errors
        ``"<rule id>: <error>"`` for every condition that could not be evaluated, including
        those of allow rules, which an error never fires.
    """

    effect: Effect
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    severity: Severity
    approval: ApprovalRequirement | None
    policy_version: str
    condition_errors: tuple[str, ...] = ()


def merge_approvals(rules: Sequence[Rule]) -> ApprovalRequirement | None:
    """The strictest approval requirement satisfying every given escalate rule.

    Approver roles and break-glass roles come from the highest-severity rule (the first
    in pack order on a tie): a union of roles would let the least qualified approver
    decide. Numbers take the strictest value: the largest quorum, the smallest deny quorum
    and timeout. The grant is ``one_time`` if any rule asks for it, else a ``window`` no
    longer than the shortest ``max_duration``.
    """
    approvals = [(rule, rule.approval) for rule in rules if rule.approval is not None]
    if not approvals:
        return None
    lead = max(approvals, key=lambda pair: _SEVERITY_RANK[pair[0].severity])[1]
    requirements = [approval for _, approval in approvals]
    one_time = any(approval.grant == "one_time" for approval in requirements)
    windows = [a.max_duration_seconds for a in requirements if a.grant == "window"]
    return ApprovalRequirement(
        roles=lead.roles,
        quorum=max(approval.quorum for approval in requirements),
        deny_quorum=min(approval.deny_quorum for approval in requirements),
        timeout_seconds=min(approval.timeout_seconds for approval in requirements),
        grant="one_time" if one_time else "window",
        max_duration_seconds=min(windows) if windows else lead.max_duration_seconds,
        break_glass_roles=lead.break_glass_roles,
    )
