"""Who may decide an escalation: never the requester's side, only a human with a required role.

Shared by the approval checks and the reviewer inbox, so a reviewer is never shown an
escalation the worker would then refuse their verdict on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["approver_problem"]


def approver_problem(
    approver: Mapping[str, Any], requester: Mapping[str, Any], approver_roles: Collection[str]
) -> tuple[str, str] | None:
    """``(reason_code, reason)`` when ``approver`` may not decide ``requester``'s escalation.

    Checks, in this order (the first that fails is reported):

    1. ``self_approval``: the approver is the requester. No role exempts anyone, a
       security administrator included.
    2. ``on_behalf_self_approval``: the approver and the requester share a side: the
       requester acts on behalf of the approver (an agent working for them), the approver
       acts on behalf of the requester, or both act for the same principal.
    3. ``approver_not_human``: only a person reviews; an agent or a service never approves.
    4. ``role_not_allowed``: the approver holds none of ``approver_roles`` (an escalation
       naming no roles can be decided by nobody).
    """
    approver_id = approver["id"]
    requester_id = requester["id"]
    if approver_id == requester_id:
        return (
            "self_approval",
            f"{approver_id} is the requester of this action and cannot decide it, whatever "
            "their roles; another reviewer must",
        )
    requester_side = {requester_id, requester.get("on_behalf_of")} - {None}
    approver_side = {approver_id, approver.get("on_behalf_of")} - {None}
    shared = sorted(str(identity) for identity in requester_side & approver_side)
    if shared:
        return (
            "on_behalf_self_approval",
            f"{approver_id} is on the requester's side ({requester_id} acting for "
            f"{requester.get('on_behalf_of') or 'itself'}; shared identity {', '.join(shared)}) "
            "and cannot decide it; another reviewer must",
        )
    if approver.get("type") != "human":
        return (
            "approver_not_human",
            f"{approver_id} is a {approver.get('type')}; only a human reviewer may decide",
        )
    if not approver_roles:
        return (
            "role_not_allowed",
            "the escalation names no approver roles, so nobody may decide it; "
            "fix the rule's approval.roles",
        )
    held = set(approver.get("roles", ())) & set(approver_roles)
    if not held:
        return (
            "role_not_allowed",
            f"{approver_id} holds none of the required roles ({', '.join(sorted(approver_roles))})",
        )
    return None
