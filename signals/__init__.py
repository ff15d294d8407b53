"""Shared Signals: revocations as CAEP security events (plain library).

* :mod:`~clearance.signals.caep`: the CAEP event types, the RFC 9493 subject identifier of a
  revocation's subject, and the Security Event Token claims of a Revocation record;
* :mod:`~clearance.signals.rules`: the claim rules an SET must follow (RFC 8417, RFC 9493,
  OpenID SSF / CAEP), as a list of problems;
* :mod:`~clearance.signals.jws`: the SET signed as a JWS (``typ: secevent+jwt``, EdDSA over
  Ed25519) and its verification.
"""

from .caep import (
    CAEP_EVENT_TYPES,
    CREDENTIAL_CHANGE,
    SESSION_REVOKED,
    TOKEN_CLAIMS_CHANGE,
    SetIssuer,
    event_type_for,
    security_event,
    set_claims,
    subject_identifier,
)
from .jws import SET_TYPE, sign_set, verify_set
from .rules import set_problems, subject_problems

__all__ = [
    "CAEP_EVENT_TYPES",
    "CREDENTIAL_CHANGE",
    "SESSION_REVOKED",
    "SET_TYPE",
    "TOKEN_CLAIMS_CHANGE",
    "SetIssuer",
    "event_type_for",
    "security_event",
    "set_claims",
    "set_problems",
    "sign_set",
    "subject_identifier",
    "subject_problems",
    "verify_set",
]
