"""Grants: what an approved escalation lets its principal do, for how long, and how often.

A :class:`Grant` is scoped to one principal (and whom it acts for), one action and one
resource (type, id, environment), valid from ``issued_at`` until ``expires_at``. A one-time
grant is consumed by the first event it allows; a window grant allows every event in its
scope until it expires. :class:`GrantBook` holds one principal's grants as plain JSON data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from ._errors import GrantError

if TYPE_CHECKING:
    from .escalation import EscalationState

__all__ = [
    "DEFAULT_ONE_TIME_SECONDS",
    "Grant",
    "GrantBook",
    "ResourceScope",
    "grant_duration_seconds",
    "grant_id_for",
]

DEFAULT_ONE_TIME_SECONDS = 300
"""How long a one-time grant stays usable unless configured otherwise: long enough for the
waiting agent to retry, short enough that a forgotten approval does not linger."""


def grant_id_for(escalation_id: str) -> str:
    """Deterministic grant id: a redelivered approval maps to the grant it made before."""
    return hashlib.blake2b(f"grant:{escalation_id}".encode(), digest_size=16).hexdigest()


def grant_duration_seconds(
    kind: str,
    *,
    requested_seconds: int | None,
    approved_seconds: int | None,
    max_duration_seconds: int,
    one_time_seconds: int = DEFAULT_ONE_TIME_SECONDS,
) -> int:
    """How long a grant lasts, in seconds (at least 1).

    A ``window`` grant lasts what the requester asked for (``context.requested_seconds``;
    the rule's maximum when they did not ask), shortened by the shortest duration an
    approver allowed (``Approval.grant_seconds``), and never longer than the rule's
    ``max_duration_seconds``. A ``one_time`` grant lasts ``one_time_seconds``, shortened
    the same way. An approver can shorten a grant, never lengthen it.
    """
    base = (requested_seconds or max_duration_seconds) if kind == "window" else one_time_seconds
    seconds = min(base, max_duration_seconds)
    if approved_seconds is not None:
        seconds = min(seconds, approved_seconds)
    return max(1, seconds)


class ResourceScope(NamedTuple):
    """The resource a grant covers."""

    type: str
    id: str
    environment: str

    @classmethod
    def of(cls, resource: Mapping[str, Any]) -> ResourceScope:
        """The scope of a Resource record (its sensitivity does not narrow it)."""
        return cls(resource["type"], resource["id"], resource["environment"])


@dataclass(frozen=True, slots=True)
class Grant:
    """Permission for one principal to do one action on one resource for a while.

    Attributes
    ----------
    grant_id
        Deterministic from ``escalation_id`` (:func:`grant_id_for`).
    escalation_id
        The approved escalation.
    principal_id, on_behalf_of
        Who may act, and for whom: an agent approved while working for alice is not
        covered while working for bob.
    action
        The approved action.
    resource
        The approved resource.
    issued_at, expires_at
        Epoch milliseconds; valid for ``issued_at <= now < expires_at``.
    single_use
        One-time grant: consumed by the first event it allows.
    used, used_by_event_id
        Whether a single-use grant was consumed, and by which event (that event, if
        redelivered, is still allowed: deciding it again must give the same answer).
    approvers
        Who approved.
    kind
        ``one_time`` or ``window``.
    """

    grant_id: str
    escalation_id: str
    principal_id: str
    on_behalf_of: str | None
    action: str
    resource: ResourceScope
    issued_at: int
    expires_at: int
    single_use: bool
    used: bool = False
    used_by_event_id: str | None = None
    approvers: tuple[str, ...] = ()
    kind: str = "one_time"

    def in_scope(self, event: Mapping[str, Any]) -> bool:
        """Same principal (acting for the same one), action and resource as the grant."""
        principal = event["principal"]
        return (
            principal["id"] == self.principal_id
            and principal.get("on_behalf_of") == self.on_behalf_of
            and event["action"] == self.action
            and ResourceScope.of(event["resource"]) == self.resource
        )

    def covers(self, event: Mapping[str, Any], now_ms: int) -> bool:
        """In scope, within the validity window, and not consumed by another event."""
        if not self.issued_at <= now_ms < self.expires_at:
            return False
        if self.used and self.used_by_event_id != event.get("event_id"):
            return False
        return self.in_scope(event)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_dict` restores it."""
        data = asdict(self)
        data["resource"] = self.resource._asdict()
        data["approvers"] = list(self.approvers)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grant:
        """The grant :meth:`to_dict` wrote."""
        return cls(
            **{
                **data,
                "resource": ResourceScope(**data["resource"]),
                "approvers": tuple(data.get("approvers", ())),
            }
        )


class GrantBook:
    """The grants of one principal, by id: the value of a table keyed by principal.

    Parameters
    ----------
    grants
        Grant id to grant.
    """

    def __init__(self, grants: Mapping[str, Grant] | None = None) -> None:
        self.grants: dict[str, Grant] = dict(grants or {})

    def issue(self, escalation: EscalationState, now_ms: int) -> Grant:
        """The grant an approved escalation makes, valid from ``now_ms``.

        Issuing again for the same escalation returns the grant made the first time.

        Raises
        ------
        GrantError
            When the escalation is not approved, or is a break-glass review.
        """
        if escalation.purpose != "approval":
            raise GrantError(
                f"escalation {escalation.escalation_id} is a {escalation.purpose}; approving "
                "an after-the-fact review confirms what happened and grants nothing"
            )
        if escalation.status != "approved":
            raise GrantError(
                f"escalation {escalation.escalation_id} is {escalation.status}, not approved; "
                "only an approved escalation makes a grant"
            )
        grant_id = grant_id_for(escalation.escalation_id)
        existing = self.grants.get(grant_id)
        if existing is not None:
            return existing
        grant = Grant(
            grant_id=grant_id,
            escalation_id=escalation.escalation_id,
            principal_id=escalation.principal["id"],
            on_behalf_of=escalation.principal.get("on_behalf_of"),
            action=escalation.action,
            resource=ResourceScope.of(escalation.resource),
            issued_at=now_ms,
            expires_at=now_ms + escalation.grant_seconds() * 1000,
            single_use=escalation.grant_kind == "one_time",
            approvers=tuple(escalation.approvers),
            kind=escalation.grant_kind,
        )
        self.grants[grant_id] = grant
        return grant

    def find(self, event: Mapping[str, Any], now_ms: int) -> Grant | None:
        """The grant that allows ``event`` at ``now_ms``, or ``None``.

        When several do, the one this event already consumed comes first (a redelivered
        event cites the same grant), then window grants (so a one-time grant is not spent
        when a window covers the event), latest expiry first.
        """
        covering = [grant for grant in self.grants.values() if grant.covers(event, now_ms)]
        if not covering:
            return None
        return min(
            covering,
            key=lambda grant: (not grant.used, grant.single_use, -grant.expires_at, grant.grant_id),
        )

    def consume(self, grant_id: str, event_id: str) -> Grant:
        """Record that ``event_id`` used the grant; a single-use grant is then spent.

        Consuming again for the same event changes nothing; a window grant is never spent.

        Raises
        ------
        GrantError
            When there is no such grant, or a single-use grant was spent by another event.
        """
        grant = self.grants.get(grant_id)
        if grant is None:
            raise GrantError(f"no grant {grant_id} for this principal; it expired or was revoked")
        if not grant.single_use or grant.used_by_event_id == event_id:
            return grant
        if grant.used:
            raise GrantError(
                f"one-time grant {grant_id} was already used by event {grant.used_by_event_id}; "
                f"event {event_id} needs a new approval"
            )
        used = replace(grant, used=True, used_by_event_id=event_id)
        self.grants[grant_id] = used
        return used

    def expired(self, now_ms: int) -> list[Grant]:
        """Grants at or past their expiry, earliest first: the timer revokes each."""
        return sorted(
            (grant for grant in self.grants.values() if grant.expires_at <= now_ms),
            key=lambda grant: (grant.expires_at, grant.grant_id),
        )

    def revoke(self, grant_id: str) -> Grant | None:
        """Remove a grant (expired or taken back); return it, or ``None`` if it was not here."""
        return self.grants.pop(grant_id, None)

    def next_expiry(self) -> int | None:
        """The earliest ``expires_at``, for a timer; ``None`` when there are no grants."""
        return min((grant.expires_at for grant in self.grants.values()), default=None)

    def __len__(self) -> int:
        return len(self.grants)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_dict` restores it."""
        return {"grants": {key: grant.to_dict() for key, grant in self.grants.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GrantBook:
        """The book :meth:`to_dict` wrote; ``None`` (a principal with no entry) is empty."""
        if not data:
            return cls()
        return cls({key: Grant.from_dict(value) for key, value in data.get("grants", {}).items()})
