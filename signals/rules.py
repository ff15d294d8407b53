"""The claim rules a revocation SET must follow, as a list of problems (empty when valid).

RFC 8417 (Security Event Token): ``iss``, ``jti``, ``iat`` and ``events`` are required;
``aud`` is a string or a list of strings; ``events`` maps event-type URIs to objects. OpenID
SSF 1.0: the subject is the ``sub_id`` claim, an RFC 9493 subject identifier (or SSF's
``complex`` one); ``txn`` ties events of one transaction. CAEP 1.0: one event per SET here,
its type a CAEP event-type URI, ``event_timestamp`` a NumericDate, ``reason_admin`` /
``reason_user`` language-tag maps; ``token-claims-change`` needs ``claims``,
``credential-change`` needs ``credential_type`` and ``change_type``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .caep import CAEP_EVENT_TYPES, CREDENTIAL_CHANGE, TOKEN_CLAIMS_CHANGE

__all__ = ["set_problems", "subject_problems"]

# RFC 9493 formats and their required members.
_FORMATS: dict[str, tuple[str, ...]] = {
    "account": ("uri",),
    "email": ("email",),
    "iss_sub": ("iss", "sub"),
    "opaque": ("id",),
    "phone_number": ("phone_number",),
    "did": ("url",),
    "uri": ("uri",),
}
_COMPLEX_MEMBERS = ("user", "device", "session", "application", "tenant", "org_unit", "group")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{1,14}$")
_CHANGE_TYPES = frozenset({"create", "revoke", "update", "delete"})


def subject_problems(sub_id: Any, where: str = "sub_id") -> list[str]:
    """Problems of an RFC 9493 subject identifier (or an SSF complex subject)."""
    if not isinstance(sub_id, Mapping):
        return [f"{where} must be a JSON object"]
    fmt = sub_id.get("format")
    if fmt == "complex":
        members = [m for m in _COMPLEX_MEMBERS if m in sub_id]
        if not members:
            return [
                f"{where}: a complex subject needs at least one of {', '.join(_COMPLEX_MEMBERS)}"
            ]
        problems = [
            f"{where}: unknown member {k!r}"
            for k in sub_id
            if k not in ("format", *_COMPLEX_MEMBERS)
        ]
        for member in members:
            problems.extend(subject_problems(sub_id[member], f"{where}.{member}"))
        return problems
    if fmt == "aliases":
        identifiers = sub_id.get("identifiers")
        if not isinstance(identifiers, list) or not identifiers:
            return [f"{where}: aliases needs a non-empty identifiers list"]
        return [p for i, s in enumerate(identifiers) for p in subject_problems(s, f"{where}[{i}]")]
    if fmt not in _FORMATS:
        return [f"{where}: unknown format {fmt!r} (RFC 9493: {', '.join(sorted(_FORMATS))})"]
    problems = []
    for member in _FORMATS[fmt]:
        value = sub_id.get(member)
        if not isinstance(value, str) or not value:
            problems.append(f"{where}: format {fmt} needs a non-empty string {member!r}")
    extra = set(sub_id) - {"format", *_FORMATS[fmt]}
    problems.extend(f"{where}: format {fmt} has no member {k!r}" for k in sorted(extra))
    if problems:
        return problems
    if fmt == "email" and not _EMAIL.match(sub_id["email"]):
        problems.append(f"{where}: {sub_id['email']!r} is not an email address")
    if fmt == "phone_number" and not _PHONE.match(sub_id["phone_number"]):
        problems.append(f"{where}: {sub_id['phone_number']!r} is not an E.164 number")
    if fmt == "account" and not sub_id["uri"].startswith("acct:"):
        problems.append(f"{where}: an account uri starts with 'acct:'")
    return problems


def _numeric_date(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _reason_problems(value: Any, name: str) -> list[str]:
    if not isinstance(value, Mapping) or not value:
        return [f"{name} must be a non-empty map of language tag to text"]
    return [
        f"{name}: {tag!r} is not a language tag or its text is empty"
        for tag, text in value.items()
        if not (
            isinstance(tag, str) and _LANGUAGE_TAG.match(tag) and isinstance(text, str) and text
        )
    ]


def set_problems(claims: Any) -> list[str]:
    """Every way ``claims`` breaks the SET / SSF / CAEP claim rules; empty when it follows them."""
    if not isinstance(claims, Mapping):
        return ["a SET is a JSON object"]
    problems: list[str] = []
    for name in ("iss", "jti", "txn"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            problems.append(f"{name} is required: a non-empty string")
    if not _numeric_date(claims.get("iat")):
        problems.append("iat is required: a NumericDate (integer seconds)")
    aud = claims.get("aud")
    if not (
        (isinstance(aud, str) and aud)
        or (isinstance(aud, list) and aud and all(isinstance(a, str) and a for a in aud))
    ):
        problems.append("aud is required: a string or a non-empty list of strings")
    for forbidden in ("sub", "exp"):
        if forbidden in claims:
            problems.append(
                f"{forbidden} must not be used: the subject is sub_id, SETs do not expire"
            )
    problems.extend(subject_problems(claims.get("sub_id")))
    events = claims.get("events")
    if not isinstance(events, Mapping) or len(events) != 1:
        return [*problems, "events must hold exactly one event"]
    ((event_type, body),) = events.items()
    if event_type not in CAEP_EVENT_TYPES:
        problems.append(f"event type {event_type!r} is not a CAEP event-type URI")
    if not isinstance(body, Mapping):
        return [*problems, "the event must be a JSON object"]
    if not _numeric_date(body.get("event_timestamp")):
        problems.append("event_timestamp is required: a NumericDate (integer seconds)")
    for name in ("reason_admin", "reason_user"):
        if name in body:
            problems.extend(_reason_problems(body[name], name))
    if body.get("initiating_entity") not in (None, "admin", "user", "policy", "system"):
        problems.append("initiating_entity must be admin, user, policy or system")
    if event_type == TOKEN_CLAIMS_CHANGE and not (
        isinstance(body.get("claims"), Mapping) and body["claims"]
    ):
        problems.append("token-claims-change needs a non-empty claims object")
    if event_type == CREDENTIAL_CHANGE:
        if not isinstance(body.get("credential_type"), str):
            problems.append("credential-change needs credential_type")
        if body.get("change_type") not in _CHANGE_TYPES:
            problems.append("credential-change needs change_type create, revoke, update or delete")
    return problems
