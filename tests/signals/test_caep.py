"""Revocation records as CAEP security events and SETs: mapping, claim rules, signatures."""

from __future__ import annotations

import copy
from typing import Any

import jwt
import pytest

from clearance.approvals import Keyring, generate_keypair
from clearance.signals import (
    CREDENTIAL_CHANGE,
    SESSION_REVOKED,
    TOKEN_CLAIMS_CHANGE,
    SetIssuer,
    security_event,
    set_claims,
    set_problems,
    sign_set,
    subject_problems,
    verify_set,
)

ISSUER = SetIssuer("https://clearance.example", ("https://pep.example",))


def revocation(**changes: Any) -> dict[str, Any]:
    record = {
        "revocation_id": "rv-1",
        "revoked_at": 1_760_000_000_123,
        "subject": {"id": "agent:etl-7", "type": "agent", "roles": [], "on_behalf_of": None},
        "session_id": None,
        "grant_id": None,
        "action": "*",
        "resource": {"type": "dataset", "id": "customers", "environment": "prod"},
        "reason_code": "rule",
        "reason": "export of restricted data outside office hours",
        "rule_ids": ["data.export.after_hours"],
        "policy_version": "sha256:0123456789abcdef",
        "decision_id": "d-1",
    }
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("changes", "event_type", "sub_format"),
    [
        ({"session_id": "s-9"}, SESSION_REVOKED, "complex"),
        ({}, SESSION_REVOKED, "opaque"),
        ({"grant_id": "g-1", "reason_code": "policy_change"}, TOKEN_CLAIMS_CHANGE, "opaque"),
        ({"grant_id": "g-1", "session_id": "s-9"}, TOKEN_CLAIMS_CHANGE, "opaque"),
        ({"reason_code": "drift"}, CREDENTIAL_CHANGE, "opaque"),
    ],
)
def test_each_kind_of_revocation_maps_to_its_caep_event(
    changes: dict[str, Any], event_type: str, sub_format: str
) -> None:
    claims = set_claims(security_event(revocation(**changes), ISSUER))
    assert list(claims["events"]) == [event_type]
    assert claims["sub_id"]["format"] == sub_format
    assert set_problems(claims) == []


def test_the_set_carries_the_revocation_ids_and_times_in_seconds() -> None:
    claims = set_claims(security_event(revocation(session_id="s-9"), ISSUER))
    assert claims["iss"] == "https://clearance.example"
    assert claims["jti"] == "rv-1"
    assert claims["txn"] == "d-1"
    assert claims["iat"] == 1_760_000_000
    assert claims["aud"] == "https://pep.example"
    assert claims["sub_id"] == {
        "format": "complex",
        "user": {"format": "opaque", "id": "agent:etl-7"},
        "session": {"format": "opaque", "id": "s-9"},
    }
    event = claims["events"][SESSION_REVOKED]
    assert event["event_timestamp"] == 1_760_000_000
    assert event["initiating_entity"] == "policy"
    assert event["reason_admin"] == {"en": "export of restricted data outside office hours"}
    assert event["reason_user"]["en"]


def test_a_grant_revocation_names_the_claims_that_changed() -> None:
    claims = set_claims(security_event(revocation(grant_id="g-1", action="data.export"), ISSUER))
    changed = claims["events"][TOKEN_CLAIMS_CHANGE]["claims"]
    assert changed == {
        "clearance_grant_revoked": "g-1",
        "clearance_action": "data.export",
        "clearance_resource": "dataset:customers",
    }


def _valid() -> dict[str, Any]:
    return set_claims(security_event(revocation(grant_id="g-1"), ISSUER))


@pytest.mark.parametrize(
    ("breakage", "problem"),
    [
        (lambda c: c.pop("iss"), "iss is required"),
        (lambda c: c.pop("jti"), "jti is required"),
        (lambda c: c.pop("txn"), "txn is required"),
        (lambda c: c.update(iat=1.5), "iat is required"),
        (lambda c: c.update(aud=[]), "aud is required"),
        (lambda c: c.update(sub="x"), "sub must not be used"),
        (lambda c: c.update(sub_id={"format": "opaque"}), "needs a non-empty string 'id'"),
        (lambda c: c.update(sub_id={"format": "user", "id": "x"}), "unknown format"),
        (lambda c: c.update(sub_id={"format": "email", "email": "nobody"}), "not an email"),
        (
            lambda c: c.update(sub_id={"format": "complex", "user": {"format": "opaque"}}),
            "sub_id.user",
        ),
        (lambda c: c.update(events={}), "exactly one event"),
        (
            lambda c: c.update(events={"https://example.com/revoked": {"event_timestamp": 1}}),
            "not a CAEP event-type URI",
        ),
        (lambda c: next(iter(c["events"].values())).pop("event_timestamp"), "event_timestamp"),
        (
            lambda c: next(iter(c["events"].values())).update(reason_admin={"english!": "x"}),
            "not a language tag",
        ),
        (lambda c: next(iter(c["events"].values())).pop("claims"), "needs a non-empty claims"),
    ],
)
def test_the_claim_rules_catch_each_breakage(breakage: Any, problem: str) -> None:
    claims = copy.deepcopy(_valid())
    assert set_problems(claims) == []
    breakage(claims)
    problems = set_problems(claims)
    assert any(problem in p for p in problems), problems


def test_credential_change_needs_its_type_and_change() -> None:
    claims = set_claims(security_event(revocation(reason_code="drift"), ISSUER))
    body = claims["events"][CREDENTIAL_CHANGE]
    assert body["change_type"] == "revoke"
    body["change_type"] = "rotate"
    assert any("change_type" in p for p in set_problems(claims))


@pytest.mark.parametrize(
    "subject",
    [
        {"format": "iss_sub", "iss": "https://idp.example", "sub": "145234573"},
        {"format": "account", "uri": "acct:alice@example.com"},
        {"format": "phone_number", "phone_number": "+12065550100"},
        {"format": "aliases", "identifiers": [{"format": "email", "email": "a@example.com"}]},
    ],
)
def test_rfc9493_formats_are_accepted(subject: dict[str, Any]) -> None:
    assert subject_problems(subject) == []


def test_a_signed_set_verifies_and_a_forged_one_does_not() -> None:
    pair = generate_keypair("clearance-set")
    forger = generate_keypair("clearance-set")
    keyring = Keyring.from_jwks({"keys": [pair.public_jwk()]})
    claims = _valid()
    token = sign_set(claims, pair.private_key, pair.kid)
    assert jwt.get_unverified_header(token)["typ"] == "secevent+jwt"
    assert verify_set(token, keyring, "https://pep.example") == claims
    with pytest.raises(jwt.InvalidTokenError):
        verify_set(sign_set(claims, forger.private_key, forger.kid), keyring, "https://pep.example")
    with pytest.raises(jwt.InvalidTokenError):
        verify_set(token, keyring, "https://other.example")
