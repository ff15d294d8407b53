"""A Revocation as a CAEP security event: event type, subject identifier, SET claims.

The mapping (documented in ``docs/revocations.md``):

* a revocation of a session (``session_id`` set, no grant) is ``session-revoked``, its
  subject the SSF *complex* identifier ``{user, session}``;
* a revocation of a grant (``grant_id`` set) is ``token-claims-change``: the principal's
  access claims changed, ``claims`` names the grant, action and resource taken back;
* a model's authorization to serve taken back (``reason_code: drift``, or a subject of type
  ``service`` revoked by a detector) is ``credential-change`` with ``change_type: revoke``;
* anything else that revokes a principal as a whole is ``session-revoked`` for all its
  sessions (subject ``opaque``).

``jti`` is the revocation id (deterministic, so a re-sent revocation is the same SET),
``iat`` and ``event_timestamp`` are seconds since the epoch, ``txn`` the decision that
caused it (else the revocation id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CAEP_EVENT_TYPES",
    "CREDENTIAL_CHANGE",
    "SESSION_REVOKED",
    "TOKEN_CLAIMS_CHANGE",
    "SetIssuer",
    "event_type_for",
    "security_event",
    "set_claims",
    "subject_identifier",
]

_CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
SESSION_REVOKED = _CAEP + "session-revoked"
TOKEN_CLAIMS_CHANGE = _CAEP + "token-claims-change"
CREDENTIAL_CHANGE = _CAEP + "credential-change"
#: Every CAEP 1.0 event type.
CAEP_EVENT_TYPES = frozenset(
    _CAEP + name
    for name in (
        "session-revoked",
        "token-claims-change",
        "credential-change",
        "assurance-level-change",
        "device-compliance-change",
        "session-established",
        "session-presented",
        "risk-level-change",
    )
)

# Who initiated the change, in CAEP's words, by the revocation's reason_code.
_INITIATING_ENTITY = {
    "rule": "policy",
    "policy_change": "policy",
    "grant_expired": "policy",
    "risk": "system",
    "drift": "system",
    "break_glass_denied": "admin",
}

_USER_REASONS = {
    "rule": "Your access was revoked by a security policy.",
    "policy_change": "Your access was revoked because the access policy changed.",
    "grant_expired": "Your temporary access has expired.",
    "risk": "Your access was revoked after unusual activity was detected.",
    "drift": "The model's authorization to serve was revoked.",
    "break_glass_denied": "Your emergency access was not confirmed by a reviewer.",
}


@dataclass(frozen=True, slots=True)
class SetIssuer:
    """Who issues the SETs and for whom: the ``iss`` and ``aud`` claims."""

    issuer: str = "urn:clearance"
    audience: tuple[str, ...] = ("urn:clearance:enforcement-points",)


def event_type_for(revocation: Mapping[str, Any]) -> str:
    """The CAEP event-type URI of a Revocation record."""
    subject = revocation.get("subject") or {}
    if revocation.get("reason_code") == "drift" or (
        subject.get("type") == "service" and revocation.get("reason_code") == "risk"
    ):
        return CREDENTIAL_CHANGE
    if revocation.get("grant_id"):
        return TOKEN_CLAIMS_CHANGE
    return SESSION_REVOKED


def subject_identifier(revocation: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 9493 / SSF subject identifier of the revocation's subject."""
    user = {"format": "opaque", "id": str(revocation["subject"]["id"])}
    session_id = revocation.get("session_id")
    if session_id and event_type_for(revocation) == SESSION_REVOKED:
        return {
            "format": "complex",
            "user": user,
            "session": {"format": "opaque", "id": session_id},
        }
    return user


def security_event(revocation: Mapping[str, Any], issuer: SetIssuer) -> dict[str, Any]:
    """The ``security_event`` field of the Revocation's Avro envelope (schemas/Revocation.avsc)."""
    event_type = event_type_for(revocation)
    code = str(revocation.get("reason_code") or "")
    seconds = int(revocation["revoked_at"]) // 1000
    subject = subject_identifier(revocation)
    claims: dict[str, str] = {}
    if event_type == TOKEN_CLAIMS_CHANGE:
        resource = revocation.get("resource") or {}
        claims = {
            "clearance_grant_revoked": str(revocation["grant_id"]),
            "clearance_action": str(revocation.get("action") or "*"),
            "clearance_resource": f"{resource.get('type', '*')}:{resource.get('id', '*')}",
        }
    return {
        "iss": issuer.issuer,
        "jti": str(revocation["revocation_id"]),
        "iat": seconds,
        "aud": list(issuer.audience),
        "txn": str(revocation.get("decision_id") or revocation["revocation_id"]),
        "sub_id": {
            "format": subject["format"],
            "id": subject.get("id"),
            "user": subject.get("user"),
            "session": subject.get("session"),
        },
        "event_type": event_type,
        "event_timestamp": seconds,
        "initiating_entity": _INITIATING_ENTITY.get(code, "system"),
        "reason_admin": {"en": str(revocation.get("reason") or code)},
        "reason_user": {"en": _USER_REASONS.get(code, "Your access was revoked.")},
        "claims": claims,
        "change_type": "revoke" if event_type == CREDENTIAL_CHANGE else None,
        "credential_type": "api-key" if event_type == CREDENTIAL_CHANGE else None,
    }


def _sub_id(envelope: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in envelope.items() if v is not None}


def set_claims(event: Mapping[str, Any]) -> dict[str, Any]:
    """The SET's JSON claims (RFC 8417 with SSF's ``sub_id``) from a ``security_event``."""
    body: dict[str, Any] = {
        "event_timestamp": event["event_timestamp"],
        "initiating_entity": event["initiating_entity"],
        "reason_admin": dict(event["reason_admin"]),
        "reason_user": dict(event["reason_user"]),
    }
    if event["event_type"] == TOKEN_CLAIMS_CHANGE:
        body["claims"] = dict(event["claims"])
    if event["event_type"] == CREDENTIAL_CHANGE:
        body["change_type"] = event["change_type"]
        body["credential_type"] = event["credential_type"]
    aud: Sequence[str] = event["aud"]
    return {
        "iss": event["iss"],
        "jti": event["jti"],
        "iat": event["iat"],
        "aud": aud[0] if len(aud) == 1 else list(aud),
        "txn": event["txn"],
        "sub_id": _sub_id(event["sub_id"]),
        "events": {event["event_type"]: body},
    }
