"""Open sessions on the stream: each principal's :class:`SessionBook`, by input partition.

:class:`SessionState` is the decider's collaborator for every decided event with a
``session_id`` and the state the policy flow re-checks. Like
:class:`~clearance.streams.approval_state.ApprovalState` it knows nothing of Faust: the app
hands it ``load`` / ``save`` / ``delete`` / ``keys`` callables backed by a changelog-backed
table keyed by principal, so a worker that takes over a partition takes over its sessions.

It runs for every event, so it writes little: a changed principal is written once per batch
(:meth:`flush`), and a session seen again with the same last allowed action is written only
once its ``last_seen`` has moved by a tenth of the idle timeout (a successor may close it
that much early).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .session_book import OpenSession, SessionBook

__all__ = ["SessionState"]

Load = Callable[[str], Any]
Save = Callable[[int, str, Any], None]
Delete = Callable[[int, str], None]
Keys = Callable[[], Iterable[str]]


class SessionState:
    """Open sessions of the principals of this worker's partitions.

    Parameters
    ----------
    load
        ``load(principal_id) -> dict | None``: stored state, for principals not in memory.
    save
        ``save(partition, principal_id, state)``: persist a principal's changed sessions.
    delete
        ``delete(partition, principal_id)``: the principal has no open session left.
    keys
        The principals with stored sessions (of every partition this worker holds).
    idle_seconds
        A session not seen for this long is closed.
    limit
        Most sessions kept per principal; opening one more drops the least recent.
    """

    def __init__(
        self,
        load: Load | None = None,
        save: Save | None = None,
        delete: Delete | None = None,
        keys: Keys | None = None,
        *,
        idle_seconds: int = 1800,
        limit: int = 16,
    ) -> None:
        self._load = load or (lambda key: None)
        self._save = save or (lambda partition, key, state: None)
        self._delete = delete or (lambda partition, key: None)
        self._keys = keys or list
        self.idle_ms = idle_seconds * 1000
        self.limit = limit
        self.resolution_ms = max(1000, self.idle_ms // 10)
        self._books: dict[str, SessionBook] = {}
        self._dirty: set[str] = set()
        # A principal's partition never changes: known once, no need to load it again to
        # tell whether it belongs to the partition being looked at.
        self._partition_of: dict[str, int] = {}
        #: partition -> the policy version its sessions were last all re-checked under.
        self._checked: dict[int, str] = {}
        self._swept_at: dict[int, int] = {}

    # -- the decider's side (every event) ----------------------------------------------------

    def record(
        self,
        event: Mapping[str, Any],
        effect: str,
        policy_version: str,
        partition: int,
        now_ms: int,
    ) -> None:
        """Note a decided event in its session: an ``allow`` opens it or keeps its action,
        any other effect only keeps an open session alive (a ``revoke`` goes to
        :meth:`close_all` instead)."""
        session_id = event["session_id"]
        if session_id is None:
            return
        principal_id = event["principal"]["id"]
        book = self._books.get(principal_id)
        if book is None:
            book = self._stored(principal_id)
        seen_at = min(event["occurred_at"], now_ms)
        if effect == "allow":
            fresh = book is None
            if book is None:
                book = SessionBook(partition)
            changed = book.allowed(
                session_id,
                event,
                seen_at,
                policy_version,
                now_ms,
                idle_ms=self.idle_ms,
                limit=self.limit,
                resolution_ms=self.resolution_ms,
            )
            if fresh and changed:
                self._books[principal_id] = book
                self._partition_of[principal_id] = partition
        elif book is None:
            return
        else:
            changed = book.seen(
                session_id,
                seen_at,
                now_ms,
                idle_ms=self.idle_ms,
                resolution_ms=self.resolution_ms,
            )
        if changed:
            self._dirty.add(principal_id)

    def close_all(self, principal_id: str, now_ms: int) -> dict[str, OpenSession]:
        """Close every session of a principal (a revoke decision on it); those still open."""
        book = self._stored(principal_id)
        if book is None or not len(book):
            return {}
        self._dirty.add(principal_id)
        return book.close_all(now_ms, self.idle_ms)

    def flush(self) -> None:
        """Persist every principal changed since the last flush, once each (per batch)."""
        dirty, self._dirty = self._dirty, set()
        for principal_id in dirty:
            book = self._books.get(principal_id)
            if book is None:
                continue
            if len(book):
                self._save(book.partition, principal_id, book.to_dict())
            else:
                del self._books[principal_id]
                self._delete(book.partition, principal_id)

    # -- the policy flow's side --------------------------------------------------------------

    def to_recheck(
        self, partition: int, policy_version: str, now_ms: int
    ) -> list[tuple[str, str, OpenSession]]:
        """Open sessions of ``partition`` whose last allowed action ``policy_version`` has
        not decided yet, as ``(principal, session id, session)``.

        Idle sessions found on the way are closed. Once a partition has been looked at under
        a version it is not looked at again for it (until the partition moves).
        """
        if self._checked.get(partition) == policy_version:
            return []
        found: list[tuple[str, str, OpenSession]] = []
        for principal_id, book in self._owned(partition):
            if book.expire(now_ms, self.idle_ms):
                self._dirty.add(principal_id)
            found.extend(
                (principal_id, session_id, session)
                for session_id, session in book.sessions.items()
                if session.policy_version != policy_version
            )
        self._checked[partition] = policy_version
        return found

    def keep(self, principal_id: str, session_id: str, policy_version: str) -> None:
        """A re-checked session the new version still allows: it is now decided under it."""
        book = self._books.get(principal_id)
        session = book.sessions.get(session_id) if book is not None else None
        if session is not None:
            session.policy_version = policy_version
            self._dirty.add(principal_id)

    def close(self, principal_id: str, session_id: str) -> OpenSession | None:
        """Close one session; ``None`` when it is not open."""
        book = self._stored(principal_id)
        session = book.close(session_id) if book is not None else None
        if session is not None:
            self._dirty.add(principal_id)
        return session

    def expire_idle(self, partition: int, now_ms: int) -> int:
        """Close the idle sessions of ``partition`` (at most every tenth of the idle
        timeout; in between, an idle session is closed when next touched); how many."""
        if now_ms - self._swept_at.get(partition, 0) < self.resolution_ms:
            return 0
        self._swept_at[partition] = now_ms
        closed = 0
        for principal_id, book in self._owned(partition):
            expired = book.expire(now_ms, self.idle_ms)
            if expired:
                closed += len(expired)
                self._dirty.add(principal_id)
        return closed

    def open_sessions(self, principal_id: str, now_ms: int) -> dict[str, OpenSession]:
        """The open sessions of one principal."""
        book = self._stored(principal_id)
        return book.open(now_ms, self.idle_ms) if book is not None else {}

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop in-memory state of partitions this worker no longer owns."""
        for principal_id in [p for p, b in self._books.items() if b.partition in partitions]:
            del self._books[principal_id]
            self._dirty.discard(principal_id)
        for partition in partitions:
            self._checked.pop(partition, None)
            self._swept_at.pop(partition, None)

    # -- loading -----------------------------------------------------------------------------

    def _stored(self, principal_id: str) -> SessionBook | None:
        book = self._books.get(principal_id)
        if book is None:
            data = self._load(principal_id)
            if not data:
                return None
            book = self._books[principal_id] = SessionBook.from_dict(data)
            self._partition_of[principal_id] = book.partition
        return book

    def _owned(self, partition: int) -> list[tuple[str, SessionBook]]:
        """The books of ``partition``'s principals, loading those not in memory yet."""
        found = []
        for principal_id in list(self._keys()):
            known = self._partition_of.get(principal_id)
            if known is not None and known != partition:
                continue
            book = self._books.get(principal_id)
            if book is None:
                data = self._load(principal_id)
                if not data:
                    continue
                self._partition_of[principal_id] = int(data["partition"])
                if int(data["partition"]) != partition:
                    continue
                book = self._books[principal_id] = SessionBook.from_dict(data)
            if book.partition == partition:
                found.append((principal_id, book))
        return found
