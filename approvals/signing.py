"""Signed approvals: compact JWS (EdDSA over Ed25519) made by the service that authenticated
the reviewer, checked by every worker, so a client that can write to the approvals topic
cannot forge a verdict.

PyJWT (with ``cryptography``) is used rather than joserfc because it is the most widely
deployed and audited JOSE library in Python, its JWS API signs arbitrary bytes, and its
``PyJWKClient`` also serves the OIDC option of :mod:`clearance.approvals.reviewers`.

What is signed is :func:`canonical_approval`: the Approval's fields except ``signature``, as
JSON with sorted keys and no whitespace. The JWS carries that payload, its header names the
signing key (``kid``) and the type ``clearance-approval+jws``. A worker accepts an approval
only when the JWS verifies under the key of that ``kid`` in its :class:`Keyring` *and* its
payload equals the canonical form of the approval as received.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from ._approval import approval_shape_problem, canonical_approval
from ._errors import KeyringError, SignatureError

__all__ = [
    "JWS_TYPE",
    "Keyring",
    "SigningKeyPair",
    "VerifiedSigner",
    "canonical_approval",
    "generate_keypair",
    "load_signing_key",
    "sign_approval",
    "signed_approval",
    "verify_approval",
]

JWS_TYPE = "clearance-approval+jws"
_ALGORITHM = "EdDSA"
_JWS = jwt.PyJWS(algorithms=[_ALGORITHM])


class VerifiedSigner(NamedTuple):
    """Who vouched for an approval: the key id of the service that signed it."""

    kid: str


@dataclass(frozen=True, slots=True)
class SigningKeyPair:
    """An Ed25519 key pair with its key id; the private half stays with the signing service.

    Attributes
    ----------
    kid
        Key id written in every JWS header and looked up in the workers' keyrings.
    private_key
        Signs approvals.
    public_key
        Goes into the workers' keyrings.
    """

    kid: str
    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey

    def private_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM (store it with mode 0600)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def public_pem(self) -> str:
        """The public key as SubjectPublicKeyInfo PEM."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (``kty`` OKP, ``crv`` Ed25519) carrying ``kid``."""
        jwk = dict(OKPAlgorithm.to_jwk(self.public_key, as_dict=True))
        jwk.update({"kid": self.kid, "alg": _ALGORITHM, "use": "sig"})
        return jwk


def generate_keypair(kid: str) -> SigningKeyPair:
    """A fresh Ed25519 key pair named ``kid`` (for tests and ``clearance keys generate``)."""
    if not kid:
        raise KeyringError("a signing key needs a non-empty kid. Fix: pass a name such as api-1")
    private_key = Ed25519PrivateKey.generate()
    return SigningKeyPair(kid, private_key, private_key.public_key())


def load_signing_key(material: str | bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``material``: PKCS#8 PEM or a JWK with ``d``.

    Raises
    ------
    KeyringError
        When ``material`` is not an Ed25519 private key.
    """
    text = material.decode() if isinstance(material, bytes) else material
    try:
        if text.lstrip().startswith("{"):
            key: object = OKPAlgorithm.from_jwk(text)
        else:
            key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, jwt.InvalidKeyError) as exc:
        raise KeyringError(
            f"the signing key is neither an Ed25519 PEM nor a JWK ({exc}). "
            "Fix: use the private key written by `clearance keys generate`"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyringError(
            f"the signing key is a {type(key).__name__}, not an Ed25519 private key. "
            "Fix: use the private key written by `clearance keys generate`"
        )
    return key


def sign_approval(
    approval: Mapping[str, Any], private_key: Ed25519PrivateKey | str | bytes, kid: str
) -> str:
    """The compact JWS over ``approval`` (its ``signature`` field is ignored).

    Parameters
    ----------
    approval
        An Approval (``schemas/Approval.avsc``), ``decided_at`` in epoch milliseconds.
    private_key
        The signing service's Ed25519 key, or its PEM / JWK text.
    kid
        The key id the workers know the matching public key by.
    """
    key = (
        private_key if isinstance(private_key, Ed25519PrivateKey) else load_signing_key(private_key)
    )
    return _JWS.encode(
        canonical_approval(approval),
        key,
        algorithm=_ALGORITHM,
        headers={"kid": kid, "typ": JWS_TYPE},
    )


def signed_approval(
    approval: Mapping[str, Any], private_key: Ed25519PrivateKey | str | bytes, kid: str
) -> dict[str, Any]:
    """A copy of ``approval`` with its ``signature`` set by :func:`sign_approval`."""
    return {**approval, "signature": sign_approval(approval, private_key, kid)}


class Keyring:
    """Public keys of the services allowed to vouch for reviewers, by key id.

    Parameters
    ----------
    keys
        Key id to Ed25519 public key.
    """

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @property
    def kids(self) -> tuple[str, ...]:
        """The key ids, sorted."""
        return tuple(sorted(self._keys))

    def get(self, kid: str) -> Ed25519PublicKey | None:
        """The public key of ``kid``, or ``None``."""
        return self._keys.get(kid)

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any], source: str = "JWKS") -> Keyring:
        """Keys from a JWK Set (``{"keys": [...]}``) or a single JWK, each with a ``kid``."""
        entries = jwks.get("keys") if "keys" in jwks else [jwks]
        if not isinstance(entries, list):
            raise KeyringError(f"{source}: 'keys' must be a list. Fix: write a JWK Set")
        keys: dict[str, Ed25519PublicKey] = {}
        for index, entry in enumerate(entries):
            where = f"{source}: key #{index}"
            if not isinstance(entry, Mapping):
                raise KeyringError(f"{where} is not a JSON object. Fix: write a JWK")
            kid = entry.get("kid")
            if not isinstance(kid, str) or not kid:
                raise KeyringError(f"{where} has no kid. Fix: add the signing key's kid")
            if "d" in entry:
                raise KeyringError(
                    f"{where} (kid {kid}) holds a private key. Fix: give workers the "
                    "public JWK only (drop 'd'); the private key stays with the signer"
                )
            try:
                key = OKPAlgorithm.from_jwk(dict(entry))
            except (ValueError, jwt.InvalidKeyError) as exc:
                raise KeyringError(
                    f"{where} (kid {kid}) is not an Ed25519 JWK ({exc}). "
                    "Fix: use kty OKP, crv Ed25519"
                ) from exc
            _add(keys, kid, key, where)
        return cls(keys)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> Keyring:
        """Keys from files: a PEM public key (kid = file name without suffix) or JSON JWK(S).

        Raises
        ------
        KeyringError
            When a file is missing, unreadable, not an Ed25519 public key, or repeats a kid.
        """
        keys: dict[str, Ed25519PublicKey] = {}
        for raw_path in paths:
            path = Path(raw_path)
            try:
                text = path.read_text()
            except OSError as exc:
                raise KeyringError(
                    f"{path}: cannot read the key file ({exc.strerror}). Fix: check the path"
                ) from exc
            for kid, key in _parse_key_text(text, str(path), default_kid=path.stem).items():
                _add(keys, kid, key, str(path))
        return cls(keys)

    @classmethod
    def from_env_value(cls, value: str, default_kid: str | None = None) -> Keyring:
        """Keys from one setting's value: JWK / JWK Set JSON, or a PEM public key.

        A PEM carries no key id, so ``default_kid`` names it.
        """
        return cls(_parse_key_text(value, "the key setting", default_kid=default_kid))


def _add(keys: dict[str, Ed25519PublicKey], kid: str, key: object, where: str) -> None:
    if not isinstance(key, Ed25519PublicKey):
        raise KeyringError(
            f"{where}: kid {kid} is a {type(key).__name__}, not an Ed25519 public key. "
            "Fix: use the public key written by `clearance keys generate`"
        )
    if kid in keys:
        raise KeyringError(f"{where}: kid {kid} is given twice. Fix: give each key its own kid")
    keys[kid] = key


def _parse_key_text(text: str, source: str, default_kid: str | None) -> dict[str, Ed25519PublicKey]:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise KeyringError(f"{source}: invalid JSON ({exc}). Fix: write a JWK Set") from exc
        return dict(Keyring.from_jwks(data, source)._keys)
    if "PRIVATE KEY" in stripped:
        raise KeyringError(
            f"{source} holds a private key. Fix: give workers the public key only; "
            "the private key stays with the signing service"
        )
    if not stripped.startswith("-----BEGIN PUBLIC KEY-----"):
        raise KeyringError(
            f"{source} is neither JWK JSON nor a PEM public key. "
            "Fix: use a file written by `clearance keys generate`"
        )
    if not default_kid:
        raise KeyringError(f"{source}: a PEM key has no kid. Fix: name it (default_kid)")
    try:
        key = serialization.load_pem_public_key(stripped.encode())
    except ValueError as exc:
        raise KeyringError(f"{source}: unreadable PEM ({exc}). Fix: re-export the key") from exc
    keys: dict[str, Ed25519PublicKey] = {}
    _add(keys, default_kid, key, source)
    return keys


def verify_approval(approval: Mapping[str, Any], keyring: Keyring) -> VerifiedSigner:
    """Check the signature of ``approval`` and return who signed it.

    Raises
    ------
    SignatureError
        ``unsigned`` (no signature), ``bad_signature`` (not a JWS, wrong algorithm or type, or
        the signature does not verify), ``unknown_kid`` (no key of that id in ``keyring``),
        ``payload_mismatch`` (a valid signature over other content: the approval was altered
        after signing or the signature was copied from another one).
    """
    approval_id = approval.get("approval_id")
    problem = approval_shape_problem(approval)
    if problem is not None:
        raise SignatureError(
            "payload_mismatch", f"approval {approval_id}: no signature can match it: {problem}"
        )
    token = approval.get("signature")
    if not token:
        raise SignatureError(
            "unsigned",
            f"approval {approval_id} is unsigned; only approvals signed by a reviewer "
            "service in the keyring are accepted",
        )
    if not isinstance(token, str):
        raise SignatureError("bad_signature", f"approval {approval_id}: signature is not text")
    try:
        header = _JWS.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise SignatureError(
            "bad_signature", f"approval {approval_id}: signature is not a compact JWS ({exc})"
        ) from exc
    if header.get("alg") != _ALGORITHM or header.get("typ") != JWS_TYPE:
        raise SignatureError(
            "bad_signature",
            f"approval {approval_id}: JWS header alg={header.get('alg')!r} "
            f"typ={header.get('typ')!r}; expected alg={_ALGORITHM} typ={JWS_TYPE}",
        )
    kid = header.get("kid")
    key = keyring.get(kid) if isinstance(kid, str) else None
    if key is None or not isinstance(kid, str):
        raise SignatureError(
            "unknown_kid",
            f"approval {approval_id}: signed with key {kid!r}, which is not in the keyring "
            f"(known: {', '.join(keyring.kids) or 'none'})",
        )
    try:
        decoded = _JWS.decode_complete(token, key, algorithms=[_ALGORITHM])
    except jwt.InvalidTokenError as exc:
        raise SignatureError(
            "bad_signature", f"approval {approval_id}: signature by {kid} does not verify ({exc})"
        ) from exc
    if decoded["payload"] != canonical_approval(approval):
        raise SignatureError(
            "payload_mismatch",
            f"approval {approval_id}: the signature by {kid} covers different content; "
            "the approval was changed after signing",
        )
    return VerifiedSigner(kid)
