"""Who is asking to decide: reviewers authenticated by bearer token (OIDC: :mod:`.oidc`).

Bearer tokens (:class:`ReviewerDirectory`)
------------------------------------------
A reviewers file (YAML or JSON) maps the SHA-256 of each token to an identity and roles::

    reviewers:
      - id: user:carol
        roles: [data-steward]
        token_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        slack_user_id: U024BE7LH      # optional: who this is in Slack

Plain tokens are never stored: :func:`new_token` makes a random 256-bit token, and
:func:`reviewer_entry` the file entry holding only its hash (what a ``clearance reviewers
add`` command prints; hand the token to the reviewer once). A fast hash is enough because
the tokens are random, not chosen passwords. Several entries may share an id (token
rotation); a hash may appear only once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from ._errors import AuthError, ReviewerFileError

__all__ = [
    "Reviewer",
    "ReviewerAuthenticator",
    "ReviewerDirectory",
    "bearer_token",
    "hash_token",
    "new_token",
    "reviewer_entry",
]

_ENTRY_KEYS = frozenset({"id", "roles", "token_sha256", "type", "slack_user_id"})
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Reviewer:
    """An authenticated reviewer.

    Attributes
    ----------
    id
        Identity, as it appears in approvals and in the audit trail.
    roles
        Roles the reviewer holds.
    type
        Principal type; reviewers are ``human``.
    via
        How they authenticated: ``token``, ``oidc`` or ``slack``.
    """

    id: str
    roles: tuple[str, ...]
    type: str = "human"
    via: str = "token"

    def as_approver(self) -> dict[str, Any]:
        """The ``approver`` field of an Approval this reviewer gives."""
        return {"id": self.id, "type": self.type, "roles": list(self.roles), "on_behalf_of": None}


class ReviewerAuthenticator(Protocol):
    """Anything that turns an ``Authorization`` header into a :class:`Reviewer`."""

    def authenticate(self, authorization: str | None) -> Reviewer: ...


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what a reviewers file stores."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A random bearer token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def reviewer_entry(
    reviewer_id: str, roles: Iterable[str], token: str, slack_user_id: str | None = None
) -> dict[str, Any]:
    """The reviewers-file entry for ``token``; it holds the hash, never the token."""
    entry: dict[str, Any] = {
        "id": reviewer_id,
        "roles": list(roles),
        "token_sha256": hash_token(token),
    }
    if slack_user_id:
        entry["slack_user_id"] = slack_user_id
    return entry


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header.

    Raises
    ------
    AuthError
        ``missing`` without a header, ``malformed`` for another scheme or no token.
    """
    if not authorization or not authorization.strip():
        raise AuthError("missing", "no Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(
            "malformed", "the Authorization header is not 'Bearer <token>'; send a bearer token"
        )
    return token.strip()


class ReviewerDirectory:
    """Reviewers known by the hash of their bearer token (and, optionally, their Slack id).

    Parameters
    ----------
    by_token_hash
        SHA-256 hex of a token to the reviewer it authenticates.
    by_slack_user
        Slack user id to reviewer.
    """

    def __init__(
        self,
        by_token_hash: Mapping[str, Reviewer],
        by_slack_user: Mapping[str, Reviewer] | None = None,
    ) -> None:
        self._by_token_hash = dict(by_token_hash)
        self._by_slack_user = dict(by_slack_user or {})

    def __len__(self) -> int:
        return len(self._by_token_hash)

    @classmethod
    def from_file(cls, path: str | Path) -> ReviewerDirectory:
        """Load a reviewers file (YAML or JSON; see the module docstring).

        Raises
        ------
        ReviewerFileError
            When the file is missing, malformed, holds a plain token or repeats a hash.
        """
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ReviewerFileError(
                f"{path}: cannot read the reviewers file ({exc.strerror}). Fix: check the path"
            ) from exc
        except yaml.YAMLError as exc:
            raise ReviewerFileError(f"{path}: not YAML or JSON ({exc}). Fix: the syntax") from exc
        return cls.from_data(data, str(path))

    @classmethod
    def from_data(cls, data: Any, source: str = "reviewers") -> ReviewerDirectory:
        """A directory from parsed file content: ``{"reviewers": [entry, ...]}``."""
        entries = data.get("reviewers") if isinstance(data, Mapping) else None
        if not isinstance(entries, list):
            raise ReviewerFileError(
                f"{source}: expected a top-level 'reviewers' list. Fix: see "
                "clearance.approvals.reviewers for the format"
            )
        by_hash: dict[str, Reviewer] = {}
        by_slack: dict[str, Reviewer] = {}
        for index, entry in enumerate(entries):
            where = f"{source}: reviewers[{index}]"
            reviewer, token_hash, slack_user = _entry(entry, where)
            if token_hash in by_hash:
                raise ReviewerFileError(
                    f"{where}: token hash already used by {by_hash[token_hash].id}. "
                    "Fix: give each reviewer their own token"
                )
            by_hash[token_hash] = reviewer
            if slack_user is not None:
                known = by_slack.get(slack_user)
                if known is not None and known.id != reviewer.id:
                    raise ReviewerFileError(
                        f"{where}: slack_user_id {slack_user} already belongs to {known.id}. "
                        "Fix: one Slack user maps to one reviewer"
                    )
                by_slack[slack_user] = reviewer
        return cls(by_hash, by_slack)

    def authenticate(self, authorization: str | None) -> Reviewer:
        """The reviewer whose token the ``Authorization`` header carries.

        Raises
        ------
        AuthError
            ``missing``, ``malformed`` or ``unknown_token``.
        """
        token = bearer_token(authorization)
        reviewer = self._by_token_hash.get(hash_token(token))
        if reviewer is None:
            raise AuthError("unknown_token", "the bearer token is not a known reviewer's")
        return reviewer

    def by_slack_user(self, slack_user_id: str) -> Reviewer:
        """The reviewer a Slack user is (after the Slack request's signature was checked).

        Raises
        ------
        AuthError
            ``unknown_user`` when no reviewer has that ``slack_user_id``.
        """
        reviewer = self._by_slack_user.get(slack_user_id)
        if reviewer is None:
            raise AuthError(
                "unknown_user",
                f"Slack user {slack_user_id} is not a reviewer; add slack_user_id to their "
                "entry in the reviewers file",
            )
        return Reviewer(reviewer.id, reviewer.roles, reviewer.type, via="slack")


def _entry(entry: Any, where: str) -> tuple[Reviewer, str, str | None]:
    if not isinstance(entry, Mapping):
        raise ReviewerFileError(f"{where}: not a mapping. Fix: id, roles, token_sha256")
    if "token" in entry:
        raise ReviewerFileError(
            f"{where}: holds a plain token. Fix: store only token_sha256 (the SHA-256 hex of "
            "the token, as `clearance reviewers add` prints) and remove 'token'"
        )
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise ReviewerFileError(
            f"{where}: unknown keys {', '.join(map(str, unknown))}. "
            f"Fix: use only {', '.join(sorted(_ENTRY_KEYS))}"
        )
    reviewer_id = entry.get("id")
    if not isinstance(reviewer_id, str) or not reviewer_id:
        raise ReviewerFileError(f"{where}: 'id' must be a non-empty string. Fix: user:<name>")
    roles = entry.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        raise ReviewerFileError(f"{where} ({reviewer_id}): 'roles' must be a list of role names")
    token_hash = entry.get("token_sha256")
    if not isinstance(token_hash, str) or len(token_hash) != 64 or set(token_hash) - _HEX:
        raise ReviewerFileError(
            f"{where} ({reviewer_id}): 'token_sha256' must be 64 lowercase hex digits. "
            "Fix: store hash_token(token)"
        )
    reviewer_type = entry.get("type", "human")
    if reviewer_type != "human":
        raise ReviewerFileError(
            f"{where} ({reviewer_id}): type {reviewer_type!r}; only humans review. "
            "Fix: remove the entry or set type: human"
        )
    slack_user = entry.get("slack_user_id")
    if slack_user is not None and (not isinstance(slack_user, str) or not slack_user):
        raise ReviewerFileError(f"{where} ({reviewer_id}): 'slack_user_id' must be a string")
    return Reviewer(reviewer_id, tuple(roles)), token_hash, slack_user
