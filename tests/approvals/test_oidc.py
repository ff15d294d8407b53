"""OIDC reviewers: tokens signed here, checked against a local JWKS (no network)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from clearance.approvals import AuthError, OidcVerifier

ISSUER = "https://idp.example.test/realms/corp"
AUDIENCE = "clearance-reviewers"


class IdentityProvider:
    """Keys of a test identity provider and the tokens it issues."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[Any, str]] = {
            "rsa-1": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
            "ec-1": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
            "ed-1": (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
        }

    def jwks(self, *kids: str) -> dict[str, Any]:
        keys = []
        for kid in kids or tuple(self.keys):
            private, algorithm = self.keys[kid]
            to_jwk: Any = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[
                algorithm
            ]
            keys.append({**to_jwk.to_jwk(private.public_key(), as_dict=True), "kid": kid})
        return {"keys": keys}

    def token(self, kid: str = "rsa-1", *, headers: dict[str, Any] | None = None, **claims):
        private, algorithm = self.keys[kid]
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "carol",
            "iat": now,
            "exp": now + 300,
            "roles": ["data-steward"],
            **claims,
        }
        body = {key: value for key, value in body.items() if value is not None}
        return jwt.encode(
            body, private, algorithm=algorithm, headers={"kid": kid, **(headers or {})}
        )


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    return IdentityProvider()


@pytest.fixture
def verifier(idp) -> OidcVerifier:
    return OidcVerifier(ISSUER, AUDIENCE, jwks=idp.jwks(), identity_prefix="user:")


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1", "ed-1"])
def test_a_valid_token_names_the_reviewer_and_roles(idp, verifier, kid) -> None:
    reviewer = verifier.authenticate(f"Bearer {idp.token(kid)}")
    assert (reviewer.id, reviewer.roles, reviewer.type, reviewer.via) == (
        "user:carol",
        ("data-steward",),
        "human",
        "oidc",
    )


def _refused(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    assert caught.value.reason_code == "invalid_token"
    return str(caught.value)


def test_another_issuer_is_refused(idp, verifier) -> None:
    assert "issuer" in _refused(verifier, idp.token(iss="https://evil.example.test"))


def test_another_audience_is_refused(idp, verifier) -> None:
    assert "Audience" in _refused(verifier, idp.token(aud="some-other-app"))


def test_an_expired_token_is_refused(idp, verifier) -> None:
    past = int(time.time()) - 3600
    assert "expired" in _refused(verifier, idp.token(iat=past - 300, exp=past))


def test_a_token_without_expiry_or_identity_is_refused(idp, verifier) -> None:
    assert "exp" in _refused(verifier, idp.token(exp=None))
    assert "sub" in _refused(verifier, idp.token(sub=None))


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(idp, verifier) -> None:
    impostor = IdentityProvider()
    assert "Signature" in _refused(verifier, impostor.token("rsa-1"))


def test_a_token_from_an_unknown_key_is_refused(idp) -> None:
    verifier = OidcVerifier(ISSUER, AUDIENCE, jwks=idp.jwks("ec-1", "ed-1"))
    assert "'rsa-1' is not in the JWKS" in _refused(verifier, idp.token("rsa-1"))


def test_algorithm_confusion_is_refused(idp, verifier) -> None:
    # HS256 keyed with the RSA public key's JWK text: the classic confusion attack.
    public_jwk = str(idp.jwks("rsa-1")["keys"][0]).encode()
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 60},
        public_jwk,
        algorithm="HS256",
        headers={"kid": "rsa-1"},
    )
    _refused(verifier, forged)
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 60},
        None,  # type: ignore[arg-type]
        algorithm="none",
        headers={"kid": "rsa-1"},
    )
    _refused(verifier, unsigned)


def test_an_algorithm_the_verifier_does_not_accept_is_refused(idp) -> None:
    verifier = OidcVerifier(ISSUER, AUDIENCE, jwks=idp.jwks(), algorithms=("ES256",))
    _refused(verifier, idp.token("rsa-1"))
    assert verifier.verify(idp.token("ec-1")).id == "carol"


def test_nested_and_space_separated_roles(idp) -> None:
    nested = OidcVerifier(ISSUER, AUDIENCE, jwks=idp.jwks(), roles_claim="realm_access.roles")
    token = idp.token(roles=None, realm_access={"roles": ["sre", "data-steward"]})
    assert nested.verify(token).roles == ("sre", "data-steward")
    spaced = OidcVerifier(ISSUER, AUDIENCE, jwks=idp.jwks(), roles_claim="scope")
    assert spaced.verify(idp.token(scope="openid data-steward")).roles == ("openid", "data-steward")
    assert spaced.verify(idp.token()).roles == ()


def test_the_identity_claim_is_configurable(idp) -> None:
    verifier = OidcVerifier(ISSUER, AUDIENCE, jwks=idp.jwks(), identity_claim="email")
    assert verifier.verify(idp.token(email="carol@example.test")).id == "carol@example.test"


def test_rotated_keys_are_refetched(idp) -> None:
    served = [idp.jwks("ec-1"), idp.jwks("ec-1", "rsa-1")]
    calls: list[int] = []

    def fetch() -> dict[str, Any]:
        calls.append(1)
        return served[min(len(calls), len(served)) - 1]

    verifier = OidcVerifier(
        ISSUER, AUDIENCE, fetch_jwks=fetch, refetch_interval_seconds=0, identity_prefix="user:"
    )
    assert verifier.verify(idp.token("rsa-1")).id == "user:carol"
    assert len(calls) == 2


def test_refetching_is_rate_limited(idp) -> None:
    calls: list[int] = []

    def fetch() -> dict[str, Any]:
        calls.append(1)
        return idp.jwks("ec-1")

    verifier = OidcVerifier(ISSUER, AUDIENCE, fetch_jwks=fetch, refetch_interval_seconds=3600)
    for _ in range(3):
        _refused(verifier, idp.token("rsa-1"))
    assert len(calls) == 1


def test_a_token_without_kid_uses_a_single_key_set_only(idp) -> None:
    private, _ = idp.keys["rsa-1"]
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "carol", "exp": int(time.time()) + 60}
    token = jwt.encode(body, private, algorithm="RS256")
    assert OidcVerifier(ISSUER, AUDIENCE, jwks=idp.jwks("rsa-1")).verify(token).id == "carol"
    _refused(OidcVerifier(ISSUER, AUDIENCE, jwks=idp.jwks()), token)


def test_a_bad_header_is_refused_before_any_token_check(verifier) -> None:
    with pytest.raises(AuthError) as caught:
        verifier.authenticate("Token abc")
    assert caught.value.reason_code == "malformed"


def test_configuration_mistakes_are_refused() -> None:
    with pytest.raises(ValueError, match="jwks, jwks_url or fetch_jwks"):
        OidcVerifier(ISSUER, AUDIENCE)
    with pytest.raises(ValueError, match="HS256"):
        OidcVerifier(ISSUER, AUDIENCE, jwks={"keys": []}, algorithms=("HS256",))
