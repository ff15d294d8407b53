"""Reviewers authenticated by an OIDC JWT from the organisation's identity provider.

An ID or access token is checked with PyJWT: signature against the provider's JWKS (RS256,
ES256 or EdDSA), issuer, audience, expiry; the identity comes from a claim (``sub`` by
default) and the roles from another (``roles``; a dotted path such as
``realm_access.roles`` reaches nested claims).

The JWK Set is given as a dict, fetched from a URL (PyJWT's client, the only path that uses
the network), or supplied by any function, so tests need no network.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jwt

from ._errors import AuthError
from .reviewers import Reviewer, bearer_token

__all__ = ["OidcVerifier"]


def _fetch_from_url(url: str) -> Callable[[], Mapping[str, Any]]:
    client = jwt.PyJWKClient(url, cache_jwk_set=False)

    def fetch() -> Mapping[str, Any]:
        return client.fetch_data()  # type: ignore[no-any-return]

    return fetch


class OidcVerifier:
    """Authenticates reviewers by an OIDC JWT signed by the identity provider.

    Parameters
    ----------
    issuer
        Expected ``iss``.
    audience
        Expected ``aud`` (this service's client id).
    jwks
        The provider's JWK Set, given directly (tests, air-gapped deployments).
    jwks_url
        Where to fetch the JWK Set when ``jwks`` is not given (network).
    fetch_jwks
        A function returning the JWK Set; overrides both (for caching or tests).
    roles_claim
        Claim holding the roles: a list or a space-separated string; dots reach nested
        claims (``realm_access.roles``).
    identity_claim
        Claim holding the reviewer identity (``sub``, ``email``, ``preferred_username``).
    identity_prefix
        Prepended to the identity, to match principal ids such as ``user:<name>``.
    algorithms
        Accepted signature algorithms; ``none`` and HMAC are never accepted.
    leeway_seconds
        Clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    refetch_interval_seconds
        A token signed by an unknown key id refetches the JWK Set at most this often
        (the provider rotated its keys).
    """

    _SAFE_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"})

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks: Mapping[str, Any] | None = None,
        jwks_url: str | None = None,
        fetch_jwks: Callable[[], Mapping[str, Any]] | None = None,
        roles_claim: str = "roles",
        identity_claim: str = "sub",
        identity_prefix: str = "",
        algorithms: Sequence[str] = ("RS256", "ES256", "EdDSA"),
        leeway_seconds: float = 30,
        refetch_interval_seconds: float = 60,
    ) -> None:
        unsafe = sorted(set(algorithms) - self._SAFE_ALGORITHMS)
        if unsafe:
            raise ValueError(
                f"algorithms {', '.join(unsafe)} are not accepted for ID tokens; "
                f"use some of {', '.join(sorted(self._SAFE_ALGORITHMS))}"
            )
        if fetch_jwks is None:
            if jwks is not None:
                given = dict(jwks)
                fetch_jwks = lambda: given  # noqa: E731 - a constant source
            elif jwks_url is not None:
                fetch_jwks = _fetch_from_url(jwks_url)
            else:
                raise ValueError("OidcVerifier needs jwks, jwks_url or fetch_jwks")
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self.identity_claim = identity_claim
        self.identity_prefix = identity_prefix
        self.algorithms = tuple(algorithms)
        self.leeway_seconds = leeway_seconds
        self.refetch_interval_seconds = refetch_interval_seconds
        self._fetch = fetch_jwks
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None

    def _refresh(self) -> None:
        jwk_set = jwt.PyJWKSet.from_dict(dict(self._fetch()))
        self._keys = {key.key_id or "": key for key in jwk_set.keys}
        self._fetched_at = time.monotonic()

    def _key_for(self, kid: str | None) -> jwt.PyJWK:
        if self._fetched_at is None:
            self._refresh()
        key = self._lookup(kid)
        if (
            key is None
            and self._fetched_at is not None
            and time.monotonic() - self._fetched_at >= self.refetch_interval_seconds
        ):
            self._refresh()
            key = self._lookup(kid)
        if key is None:
            raise AuthError("invalid_token", f"the token's signing key {kid!r} is not in the JWKS")
        return key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            # Without a kid, only an unambiguous single-key set may be used.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def verify(self, token: str) -> Reviewer:
        """The reviewer an ID token names, after checking signature, issuer, audience, expiry.

        Raises
        ------
        AuthError
            ``invalid_token`` with the reason.
        """
        try:
            header = jwt.get_unverified_header(token)
            key = self._key_for(header.get("kid"))
            claims = jwt.decode(
                token,
                key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={
                    "require": ["exp", "iss", "aud", self.identity_claim],
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise AuthError("invalid_token", f"the ID token is not valid: {exc}") from exc
        identity = claims[self.identity_claim]
        if not isinstance(identity, str) or not identity:
            raise AuthError("invalid_token", f"claim {self.identity_claim} is not a string")
        return Reviewer(self.identity_prefix + identity, self._roles(claims), via="oidc")

    def authenticate(self, authorization: str | None) -> Reviewer:
        """:meth:`verify` the bearer token of an ``Authorization`` header."""
        return self.verify(bearer_token(authorization))

    def _roles(self, claims: Mapping[str, Any]) -> tuple[str, ...]:
        value: Any = claims
        for part in self.roles_claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str):
            return tuple(value.split())
        if isinstance(value, list):
            return tuple(role for role in value if isinstance(role, str) and role)
        return ()
