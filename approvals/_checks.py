"""The checks every verdict passes before any escalation is looked at: shape and signature."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._approval import approval_shape_problem
from ._errors import SignatureError
from .outcomes import ApprovalOutcome
from .signing import Keyring, verify_approval

__all__ = ["rejection", "shape_and_signature"]


def rejection(approval: Any, code: str, reason: str) -> ApprovalOutcome:
    """A rejected outcome naming whatever ids the (possibly malformed) approval carries."""
    fields = approval if isinstance(approval, Mapping) else {}
    approver = fields.get("approver")
    approver_id = approver.get("id") if isinstance(approver, Mapping) else None
    return ApprovalOutcome(
        escalation_id=str(fields.get("escalation_id") or ""),
        approval_id=str(fields.get("approval_id") or ""),
        approver_id=str(approver_id or ""),
        verdict=str(fields.get("verdict") or ""),
        accepted=False,
        reason_code=code,
        reason=reason,
        status=None,
    )


def shape_and_signature(approval: Any, keyring: Keyring) -> ApprovalOutcome | str:
    """The rejection of a malformed or untrusted verdict, else the signer's key id."""
    problem = approval_shape_problem(approval)
    if problem is not None:
        return rejection(approval, "malformed", f"not a valid approval: {problem}")
    try:
        return verify_approval(approval, keyring).kid
    except SignatureError as exc:
        return rejection(approval, exc.reason_code, exc.reason)
