"""Errors of the approvals package; each one says what is wrong and how to fix it."""

from __future__ import annotations

from clearance.errors import ClearanceError

__all__ = [
    "AuthError",
    "GrantError",
    "KeyringError",
    "ReviewerFileError",
    "SignatureError",
    "SlackError",
]


class SignatureError(ClearanceError):
    """An approval whose signature cannot be trusted; the worker rejects and records it.

    Attributes
    ----------
    reason_code
        ``unsigned``, ``bad_signature``, ``unknown_kid`` or ``payload_mismatch``.
    reason
        Human-readable reason, with the approval id and the key id when known.
    """

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason_code, self.reason))


class KeyringError(ClearanceError):
    """A verification or signing key that cannot be loaded (file, format, key type, kid)."""

    exit_code = 2


class ReviewerFileError(ClearanceError):
    """A reviewers file that cannot be used (format, duplicate token, plain token)."""

    exit_code = 2


class AuthError(ClearanceError):
    """A reviewer request without valid credentials; answer it with HTTP 401.

    Attributes
    ----------
    reason_code
        ``missing``, ``malformed``, ``unknown_token``, ``invalid_token`` or ``unknown_user``.
    """

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason_code, self.reason))


class SlackError(ClearanceError):
    """A Slack request that must not be acted on: bad signature, stale timestamp, bad payload.

    Attributes
    ----------
    reason_code
        ``missing_header``, ``stale``, ``future``, ``bad_signature`` or ``bad_payload``.
    """

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason_code, self.reason))


class GrantError(ClearanceError):
    """A grant operation that cannot be done: unknown grant, used single-use grant, not approved."""
