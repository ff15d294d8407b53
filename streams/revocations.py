"""Revocations on ``clearance.revocations``: CAEP-shaped, optionally with a signed SET.

:class:`RevocationEncoder` is the one place a Revocation record becomes bytes: it fills the
record's ``security_event`` (:func:`clearance.signals.security_event`) and, with a signing
key, ``set_jws``. :func:`grant_revocation_for` and :func:`session_revocation_for` build the
revocation of a grant or an open session taken back early (a policy change, a risk alarm);
:func:`held_revocations` those of everything a principal held when a decision revoked it. Ids
are deterministic, so a repeat collapses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearance.approvals import Grant, load_signing_key
from clearance.config import Settings
from clearance.schemas import Codec
from clearance.signals import SetIssuer, security_event, set_claims, sign_set

__all__ = [
    "RevocationEncoder",
    "grant_revocation_for",
    "held_revocations",
    "revoke_reason_code",
    "session_revocation_for",
]


class RevocationEncoder:
    """Encodes Revocation records, adding their CAEP security event and signed SET."""

    def __init__(
        self,
        issuer: SetIssuer | None = None,
        key: Ed25519PrivateKey | None = None,
        kid: str = "",
    ) -> None:
        self.issuer = issuer or SetIssuer()
        self.key = key
        self.kid = kid
        self._codec = Codec("Revocation")

    @classmethod
    def from_settings(cls, settings: Settings) -> RevocationEncoder:
        audience = tuple(a.strip() for a in settings.set_audience.split(",") if a.strip())
        path = settings.set_signing_key
        key = load_signing_key(path.read_text()) if path else None
        kid = settings.set_signing_kid or (path.stem.removesuffix(".private") if path else "")
        return cls(SetIssuer(settings.set_issuer, audience), key, kid)

    def complete(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """``record`` with ``security_event`` (and ``set_jws`` when a key is set) filled."""
        event = security_event(record, self.issuer)
        jws = sign_set(set_claims(event), self.key, self.kid) if self.key is not None else None
        return {**record, "security_event": event, "set_jws": jws}

    def encode(self, record: dict[str, Any], fmt: str = "avro", *, trusted: bool = False) -> bytes:
        """Bytes of the completed record (same signature as :meth:`Codec.encode`)."""
        return self._codec.encode(self.complete(record), fmt, trusted=trusted)


def grant_revocation_for(
    principal: Mapping[str, Any],
    grant: Grant,
    *,
    reason_code: str,
    reason: str,
    policy_version: str,
    now_ms: int,
    cause: str,
    decision_id: str | None = None,
    rule_ids: list[str] | None = None,
) -> dict[str, Any]:
    """The Revocation of a live grant taken back before its expiry.

    ``cause`` names what took it back (a policy version, a decision id; empty for the
    grant's own expiry), so the same cause revoking the same grant twice gives the same
    revocation id.
    """
    name = f"{reason_code}:{cause}:{grant.grant_id}" if cause else f"{reason_code}:{grant.grant_id}"
    digest = hashlib.blake2b(name.encode(), digest_size=16).hexdigest()
    return {
        "revocation_id": digest,
        "revoked_at": now_ms,
        "subject": dict(principal),
        "session_id": None,
        "grant_id": grant.grant_id,
        "action": grant.action,
        "resource": {**grant.resource._asdict(), "sensitivity": "internal"},
        "reason_code": reason_code,
        "reason": reason,
        "rule_ids": list(rule_ids or []),
        "policy_version": policy_version,
        "decision_id": decision_id,
    }


def session_revocation_for(
    principal: Mapping[str, Any],
    session_id: str,
    *,
    reason_code: str,
    reason: str,
    policy_version: str,
    now_ms: int,
    cause: str,
    decision_id: str | None = None,
    rule_ids: list[str] | None = None,
) -> dict[str, Any]:
    """The Revocation of one open session (a CAEP ``session-revoked`` naming it).

    ``cause`` names what took it back (a policy version, a decision id): the same cause
    revoking the same session twice gives the same revocation id.
    """
    name = f"{reason_code}:{cause}:session:{principal['id']}:{session_id}"
    return {
        "revocation_id": hashlib.blake2b(name.encode(), digest_size=16).hexdigest(),
        "revoked_at": now_ms,
        "subject": dict(principal),
        "session_id": session_id,
        "grant_id": None,
        "action": "*",
        "resource": None,
        "reason_code": reason_code,
        "reason": reason,
        "rule_ids": list(rule_ids or []),
        "policy_version": policy_version,
        "decision_id": decision_id,
    }


def revoke_reason_code(decision: Mapping[str, Any]) -> str:
    """``risk`` when detectors scored the revoked event, else ``rule``."""
    return "risk" if decision["detector_scores"] else "rule"


def held_revocations(
    decision: Mapping[str, Any], grants: Iterable[Grant], session_ids: Iterable[str], now_ms: int
) -> list[dict[str, Any]]:
    """The revocations of what a principal held when ``decision`` revoked it: each live
    grant, and each open session other than the decision's own (which the decision's own
    revocation names)."""
    principal = decision["principal"]
    reason = "; ".join(decision["reasons"])
    cited = {
        "reason_code": revoke_reason_code(decision),
        "policy_version": decision["policy_version"],
        "now_ms": now_ms,
        "cause": decision["decision_id"],
        "decision_id": decision["decision_id"],
        "rule_ids": decision["rule_ids"],
    }
    records = [
        grant_revocation_for(
            principal,
            grant,
            reason=f"grant {grant.grant_id} revoked with the principal: {reason}",
            **cited,
        )
        for grant in grants
    ]
    records.extend(
        session_revocation_for(
            principal,
            session_id,
            reason=f"session {session_id} revoked with the principal: {reason}",
            **cited,
        )
        for session_id in session_ids
        if session_id != decision["session_id"]
    )
    return records
