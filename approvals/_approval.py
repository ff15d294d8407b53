"""The Approval message as this package reads it: its shape and its canonical signed form."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["PRINCIPAL_TYPES", "VERDICTS", "approval_shape_problem", "canonical_approval"]

VERDICTS: tuple[str, ...] = ("approve", "deny")
PRINCIPAL_TYPES: tuple[str, ...] = ("human", "agent", "service", "pipeline")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def approval_shape_problem(approval: object) -> str | None:
    """Why ``approval`` is not shaped like ``schemas/Approval.avsc``, or ``None`` when it is.

    The codec already checks messages it decodes; this check keeps the library safe for
    dicts built elsewhere (HTTP handlers, tests). ``reason`` may be empty or absent here:
    a missing reason is its own rejection (``missing_reason``), not a malformed message.
    """
    if not isinstance(approval, Mapping):
        return f"an approval is a JSON object, got {type(approval).__name__}"
    for name in ("approval_id", "escalation_id"):
        value = approval.get(name)
        if not isinstance(value, str) or not value:
            return f"field {name} must be a non-empty string, got {value!r}"
    if approval.get("verdict") not in VERDICTS:
        return (
            f"field verdict must be one of {', '.join(VERDICTS)}, got {approval.get('verdict')!r}"
        )
    approver = approval.get("approver")
    if not isinstance(approver, Mapping):
        return f"field approver must be a principal object, got {approver!r}"
    if not isinstance(approver.get("id"), str) or not approver["id"]:
        return f"field approver.id must be a non-empty string, got {approver.get('id')!r}"
    if approver.get("type") not in PRINCIPAL_TYPES:
        return (
            f"field approver.type must be one of {', '.join(PRINCIPAL_TYPES)}, "
            f"got {approver.get('type')!r}"
        )
    roles = approver.get("roles", [])
    if not isinstance(roles, list | tuple) or not all(isinstance(r, str) for r in roles):
        return f"field approver.roles must be a list of strings, got {roles!r}"
    on_behalf_of = approver.get("on_behalf_of")
    if on_behalf_of is not None and not isinstance(on_behalf_of, str):
        return f"field approver.on_behalf_of must be a string or null, got {on_behalf_of!r}"
    reason = approval.get("reason")
    if reason is not None and not isinstance(reason, str):
        return f"field reason must be a string, got {reason!r}"
    if not _is_int(approval.get("decided_at")):
        return f"field decided_at must be epoch milliseconds, got {approval.get('decided_at')!r}"
    grant_seconds = approval.get("grant_seconds")
    if grant_seconds is not None and not _is_int(grant_seconds):
        return f"field grant_seconds must be whole seconds or null, got {grant_seconds!r}"
    signature = approval.get("signature")
    if signature is not None and not isinstance(signature, str):
        return f"field signature must be a compact JWS string or null, got {type(signature)!r}"
    return None


def canonical_approval(approval: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: every Approval field but ``signature``, canonically.

    Canonical means: the schema's fields only, optional ones filled with their defaults (so
    leaving out ``grant_seconds`` or sending it as null signs the same), keys sorted, no
    whitespace, UTF-8 without escaping non-ASCII. A signer in another language reproduces it
    with any JSON library that sorts keys and writes compact output. Fields outside the
    schema are not covered, as the codec drops them before a worker sees the message.
    """
    approver = approval["approver"]
    body = {
        "approval_id": approval["approval_id"],
        "escalation_id": approval["escalation_id"],
        "verdict": approval["verdict"],
        "approver": {
            "id": approver["id"],
            "type": approver["type"],
            "roles": list(approver.get("roles", [])),
            "on_behalf_of": approver.get("on_behalf_of"),
        },
        "reason": approval.get("reason") or "",
        "decided_at": approval["decided_at"],
        "grant_seconds": approval.get("grant_seconds"),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
