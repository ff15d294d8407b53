"""One principal's open sessions: what each last did that was allowed, and when it was seen.

A session is the ``session_id`` of the principal's action events. It opens with the first
action allowed in it (by the policy, a grant or break-glass), keeps the last such action
(enough of the event to decide it again under another policy version) and the time it was
last seen, and closes when it has been idle for the idle timeout, when the principal is
revoked, or when a new policy version no longer allows its last action. A principal keeps
at most ``limit`` sessions: opening one more drops the one seen least recently.

:class:`SessionBook` is plain data (no Faust, no clock): the value of a changelog-backed
table keyed by principal (:mod:`~clearance.streams.sessions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RECHECK_FIELDS", "OpenSession", "SessionBook", "recheck_event"]

RECHECK_FIELDS = (
    "principal",
    "action",
    "resource",
    "session_id",
    "source",
    "data_bytes",
    "context",
)
"""The fields of an action event a policy decides on (besides its id and time)."""


@dataclass(slots=True)
class OpenSession:
    """One open session.

    Attributes
    ----------
    action
        The last action allowed in it: the event's :data:`RECHECK_FIELDS`.
    event_id
        The id of that event.
    last_seen
        Epoch milliseconds of the latest event seen in the session.
    policy_version
        The version that last allowed (or re-checked) the action.
    """

    action: dict[str, Any]
    event_id: str
    last_seen: int
    policy_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "event_id": self.event_id,
            "last_seen": self.last_seen,
            "policy_version": self.policy_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpenSession:
        return cls(
            dict(data["action"]),
            str(data["event_id"]),
            int(data["last_seen"]),
            str(data["policy_version"]),
        )


def recheck_event(session: OpenSession, now_ms: int) -> dict[str, Any]:
    """The session's last allowed action as an event to decide again at ``now_ms``."""
    return {**session.action, "event_id": session.event_id, "occurred_at": now_ms}


class SessionBook:
    """The open sessions of one principal, and the input partition they live in.

    Parameters
    ----------
    partition
        The principal's input partition (its changelog partition).
    sessions
        Session id to session.
    """

    __slots__ = ("_written", "partition", "sessions")

    def __init__(self, partition: int, sessions: Mapping[str, OpenSession] | None = None) -> None:
        self.partition = partition
        self.sessions: dict[str, OpenSession] = dict(sessions or {})
        # last_seen of each session as last persisted: a session seen again with nothing
        # else changed is persisted only once its last_seen has moved far enough.
        self._written = {sid: s.last_seen for sid, s in self.sessions.items()}

    def allowed(
        self,
        session_id: str,
        event: Mapping[str, Any],
        seen_at: int,
        policy_version: str,
        now_ms: int,
        *,
        idle_ms: int,
        limit: int,
        resolution_ms: int,
    ) -> bool:
        """Record an allowed action in ``session_id`` (opening it); whether to persist.

        Persisting is needed when the session is new, its last allowed action or version
        changed, or its ``last_seen`` moved by ``resolution_ms`` or more since last written.
        Opening a session drops the idle ones and, past ``limit``, the least recent; an
        event already idle at ``now_ms`` (seen late) opens nothing.
        """
        action = {name: event[name] for name in RECHECK_FIELDS}
        session = self.sessions.get(session_id)
        if session is None:
            if now_ms - seen_at >= idle_ms:
                return False
            self.sessions[session_id] = OpenSession(
                action, event["event_id"], seen_at, policy_version
            )
            self.expire(now_ms, idle_ms)
            while len(self.sessions) > limit:
                del self.sessions[min(self.sessions, key=lambda s: self.sessions[s].last_seen)]
            self._written[session_id] = seen_at
            return True
        session.event_id = event["event_id"]
        if seen_at > session.last_seen:
            session.last_seen = seen_at
        if action != session.action or policy_version != session.policy_version:
            session.action = action
            session.policy_version = policy_version
            self._written[session_id] = session.last_seen
            return True
        return self._moved(session_id, session, resolution_ms)

    def seen(
        self, session_id: str, seen_at: int, now_ms: int, *, idle_ms: int, resolution_ms: int
    ) -> bool:
        """An event not allowed in ``session_id``: it keeps an open session alive.

        Returns whether to persist (see :meth:`allowed`); a session not open (never opened,
        or idle already) stays closed.
        """
        session = self.sessions.get(session_id)
        if session is None or seen_at <= session.last_seen:
            return False
        if now_ms - session.last_seen >= idle_ms:
            return False
        session.last_seen = seen_at
        return self._moved(session_id, session, resolution_ms)

    def _moved(self, session_id: str, session: OpenSession, resolution_ms: int) -> bool:
        if session.last_seen - self._written.get(session_id, 0) < resolution_ms:
            return False
        self._written[session_id] = session.last_seen
        return True

    def expire(self, now_ms: int, idle_ms: int) -> list[str]:
        """Close the sessions idle for ``idle_ms`` or more at ``now_ms``; their ids."""
        idle = [sid for sid, s in self.sessions.items() if now_ms - s.last_seen >= idle_ms]
        for sid in idle:
            del self.sessions[sid]
            self._written.pop(sid, None)
        return idle

    def open(self, now_ms: int, idle_ms: int) -> dict[str, OpenSession]:
        """The sessions not idle at ``now_ms``."""
        return {sid: s for sid, s in self.sessions.items() if now_ms - s.last_seen < idle_ms}

    def close(self, session_id: str) -> OpenSession | None:
        """Close one session; ``None`` when it was not open."""
        self._written.pop(session_id, None)
        return self.sessions.pop(session_id, None)

    def close_all(self, now_ms: int, idle_ms: int) -> dict[str, OpenSession]:
        """Close every session; return those that were still open (not idle)."""
        still_open = self.open(now_ms, idle_ms)
        self.sessions.clear()
        self._written.clear()
        return still_open

    def __len__(self) -> int:
        return len(self.sessions)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_dict` restores it."""
        return {
            "partition": self.partition,
            "sessions": {sid: s.to_dict() for sid, s in self.sessions.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionBook:
        """The book :meth:`to_dict` wrote."""
        return cls(
            int(data["partition"]),
            {sid: OpenSession.from_dict(s) for sid, s in data.get("sessions", {}).items()},
        )
