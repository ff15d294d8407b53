"""The SET as a signed JWT (JWS compact, ``typ: secevent+jwt``, EdDSA over Ed25519).

The keys are the approvals' kind (:mod:`clearance.approvals.signing`): ``clearance keys
generate`` writes a pair, the worker signs with the private key, enforcement points verify
with the public one (a :class:`~clearance.approvals.Keyring`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearance.approvals import Keyring

__all__ = ["SET_TYPE", "sign_set", "verify_set"]

SET_TYPE = "secevent+jwt"
_ALGORITHM = "EdDSA"


def sign_set(claims: Mapping[str, Any], key: Ed25519PrivateKey, kid: str) -> str:
    """The compact JWS of the SET ``claims``."""
    return jwt.encode(
        dict(claims), key, algorithm=_ALGORITHM, headers={"kid": kid, "typ": SET_TYPE}
    )


def verify_set(token: str, keyring: Keyring, audience: str) -> dict[str, Any]:
    """The claims of a SET signed by a key of ``keyring`` for ``audience``.

    Raises
    ------
    jwt.InvalidTokenError
        Bad signature, unknown key, wrong type or audience, or a missing required claim.
    """
    header = jwt.get_unverified_header(token)
    if header.get("typ") != SET_TYPE:
        raise jwt.InvalidTokenError(f"typ is {header.get('typ')!r}, not {SET_TYPE!r}")
    key = keyring.get(str(header.get("kid")))
    if key is None:
        raise jwt.InvalidTokenError(f"unknown signing key {header.get('kid')!r}")
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[_ALGORITHM],
        audience=audience,
        options={"require": ["iss", "jti", "iat", "aud"]},
    )
    return claims
