"""Signed approvals: JWS sign / verify, forgeries, unknown keys, tampering, key loading."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clearance.approvals import (
    Keyring,
    KeyringError,
    SignatureError,
    canonical_approval,
    generate_keypair,
    load_signing_key,
    sign_approval,
    signed_approval,
    verify_approval,
)
from clearance.approvals.signing import JWS_TYPE


def _code(approval, keyring) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_approval(approval, keyring)
    return caught.value.reason_code


def test_a_signed_approval_verifies_and_names_its_signer(approval, keyring) -> None:
    assert verify_approval(approval(), keyring).kid == "reviewer-api"


def test_the_jws_header_names_the_key_and_type(approval) -> None:
    header = jwt.get_unverified_header(approval()["signature"])
    assert header == {"alg": "EdDSA", "kid": "reviewer-api", "typ": JWS_TYPE}


def test_the_canonical_form_is_sorted_compact_and_without_the_signature(approval) -> None:
    message = approval(reason="déjà vu")
    canonical = canonical_approval(message)
    assert b"signature" not in canonical and b": " not in canonical and b", " not in canonical
    decoded = json.loads(canonical)
    assert list(decoded) == sorted(decoded) and list(decoded["approver"]) == sorted(
        decoded["approver"]
    )
    assert "déjà vu".encode() in canonical  # UTF-8, not escaped
    # The JWS payload is exactly these bytes.
    payload = jwt.PyJWS().decode_complete(message["signature"], options={"verify_signature": False})
    assert payload["payload"] == canonical


def test_optional_fields_left_out_sign_the_same_as_their_defaults(approval, keyring) -> None:
    message = approval()
    trimmed = {key: value for key, value in message.items() if key != "grant_seconds"}
    trimmed["approver"] = {k: v for k, v in message["approver"].items() if k != "on_behalf_of"}
    assert canonical_approval(trimmed) == canonical_approval(message)
    assert verify_approval(trimmed, keyring).kid == "reviewer-api"


def test_signing_ignores_an_existing_signature(approval, signer, keyring) -> None:
    message = approval()
    again = sign_approval({**message, "signature": "junk"}, signer.private_key, signer.kid)
    assert verify_approval({**message, "signature": again}, keyring).kid == signer.kid


@pytest.mark.parametrize("signature", [None, ""])
def test_an_unsigned_approval_is_refused(approval, keyring, signature) -> None:
    assert _code({**approval(), "signature": signature}, keyring) == "unsigned"


def test_a_signature_by_another_key_under_a_trusted_kid_is_refused(approval, keyring) -> None:
    forger = generate_keypair("reviewer-api")
    forged = signed_approval(approval(sign=False), forger.private_key, forger.kid)
    assert _code(forged, keyring) == "bad_signature"


def test_a_signature_by_an_unknown_kid_is_refused(approval, keyring) -> None:
    stranger = generate_keypair("elsewhere")
    message = signed_approval(approval(sign=False), stranger.private_key, stranger.kid)
    with pytest.raises(SignatureError, match="known: reviewer-api") as caught:
        verify_approval(message, keyring)
    assert caught.value.reason_code == "unknown_kid"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jws",
        "a.b.c",
        # alg none: an unsigned token dressed as a JWS.
        jwt.PyJWS().encode(
            b"{}",
            None,  # type: ignore[arg-type]
            algorithm="none",
            headers={"kid": "reviewer-api", "typ": JWS_TYPE},
        ),
        # HMAC with a guessable secret, so no private key is needed.
        jwt.PyJWS().encode(
            b"{}",
            "reviewer-api-secret-of-32-bytes!",
            algorithm="HS256",
            headers={"kid": "reviewer-api", "typ": JWS_TYPE},
        ),
    ],
)
def test_tokens_that_are_not_eddsa_jws_are_refused(approval, keyring, token) -> None:
    assert _code({**approval(), "signature": token}, keyring) == "bad_signature"


def test_a_jws_of_another_type_is_refused(approval, signer, keyring) -> None:
    message = approval(sign=False)
    other = jwt.PyJWS().encode(
        canonical_approval(message),
        signer.private_key,
        algorithm="EdDSA",
        headers={"kid": signer.kid, "typ": "JWT"},
    )
    assert _code({**message, "signature": other}, keyring) == "bad_signature"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("verdict", "deny"),
        ("reason", "changed"),
        ("escalation_id", "esc-other"),
        ("grant_seconds", 86_400),
        ("decided_at", 1),
        ("approval_id", "apv-new"),
    ],
)
def test_any_change_after_signing_is_a_payload_mismatch(approval, keyring, field, value):
    assert _code({**approval(), field: value}, keyring) == "payload_mismatch"


def test_a_changed_approver_is_a_payload_mismatch(approval, keyring) -> None:
    message = approval()
    message["approver"] = {**message["approver"], "roles": ["security-admin"]}
    assert _code(message, keyring) == "payload_mismatch"


def test_a_signature_copied_from_another_approval_is_a_payload_mismatch(approval, keyring):
    first, second = approval("user:carol"), approval("user:dave")
    assert _code({**second, "signature": first["signature"]}, keyring) == "payload_mismatch"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_keyring_from_pem_jwk_and_jwks_files(tmp_path, approval, signer) -> None:
    second, third = generate_keypair("api-2"), generate_keypair("api-3")
    keyring = Keyring.from_files(
        [
            _write(tmp_path, "reviewer-api.pem", signer.public_pem()),
            _write(tmp_path, "two.jwk", json.dumps(second.public_jwk())),
            _write(tmp_path, "three.json", json.dumps({"keys": [third.public_jwk()]})),
        ]
    )
    assert keyring.kids == ("api-2", "api-3", "reviewer-api")
    message = approval(sign=False)
    for pair in (signer, second, third):
        assert verify_approval(signed_approval(message, pair.private_key, pair.kid), keyring)


def test_keyring_from_an_env_value(signer, approval) -> None:
    from_jwks = Keyring.from_env_value(json.dumps({"keys": [signer.public_jwk()]}))
    from_pem = Keyring.from_env_value(signer.public_pem(), default_kid="reviewer-api")
    assert verify_approval(approval(), from_jwks) == verify_approval(approval(), from_pem)
    with pytest.raises(KeyringError, match="PEM key has no kid"):
        Keyring.from_env_value(signer.public_pem())


def test_a_private_key_is_refused_in_a_keyring(tmp_path, signer) -> None:
    with pytest.raises(KeyringError, match="holds a private key"):
        Keyring.from_files([_write(tmp_path, "k.pem", signer.private_pem())])
    private_jwk = {**signer.public_jwk(), "d": "AAAA"}
    with pytest.raises(KeyringError, match="holds a private key"):
        Keyring.from_jwks({"keys": [private_jwk]})


def test_keyring_refuses_other_key_types_duplicates_and_missing_files(tmp_path, signer):
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(KeyringError, match="not an Ed25519 public key"):
        Keyring.from_files([_write(tmp_path, "rsa.pem", rsa_pem)])
    with pytest.raises(KeyringError, match="given twice"):
        Keyring.from_jwks({"keys": [signer.public_jwk(), signer.public_jwk()]})
    with pytest.raises(KeyringError, match="cannot read"):
        Keyring.from_files([tmp_path / "absent.pem"])
    with pytest.raises(KeyringError, match="has no kid"):
        Keyring.from_jwks({"kty": "OKP", "crv": "Ed25519", "x": signer.public_jwk()["x"]})
    with pytest.raises(KeyringError, match="neither JWK JSON nor a PEM"):
        Keyring.from_files([_write(tmp_path, "junk.txt", "hello")])


def test_signing_keys_load_from_pem_and_jwk(signer, approval, keyring) -> None:
    from_pem = load_signing_key(signer.private_pem())
    assert verify_approval(signed_approval(approval(sign=False), from_pem, signer.kid), keyring)
    private_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(signer.private_key)
    from_jwk = load_signing_key(private_jwk)
    assert verify_approval(signed_approval(approval(sign=False), from_jwk, signer.kid), keyring)
    with pytest.raises(KeyringError, match="Ed25519"):
        load_signing_key(signer.public_pem())


def test_a_keypair_needs_a_kid() -> None:
    with pytest.raises(KeyringError, match="non-empty kid"):
        generate_keypair("")
