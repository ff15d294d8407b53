"""Approvals on the stream: each principal's escalations and grants, by input partition.

:class:`ApprovalState` is the decider's narrow collaborator for escalated events and the
state the approvals agent and its timer work on. It knows nothing of Faust: the app hands it
an :class:`~clearance.streams.approval_store.ApprovalStore` backed by changelog-backed tables
(a record per principal for its grants, one per escalation), so a worker that takes over a
partition takes over its escalations and grants. What a batch changed is written once, at
the end of the batch, in the batch's transaction: the principal's record when its grants
changed, and only the escalations that changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from clearance.approvals import (
    ApprovalOutcome,
    EscalationBook,
    EscalationState,
    ExpiryOutcome,
    Grant,
    GrantBook,
    Keyring,
    TimeoutEffect,
    break_glass,
)
from clearance.rules import ApprovalRequirement

from .approval_store import ApprovalStore, MemoryApprovalStore

__all__ = ["ApprovalState", "Escalated", "PrincipalBooks"]

CLOSED_RETENTION_MS = 24 * 3600 * 1000
"""How long a closed escalation is kept so a replayed verdict is still named a replay."""


@dataclass(slots=True)
class PrincipalBooks:
    """One principal's escalations and grants, and the input partition they live in."""

    partition: int
    escalations: EscalationBook
    grants: GrantBook

    def to_dict(self) -> dict[str, Any]:
        """The principal's record: partition and grants (escalations are records of their
        own)."""
        return {"partition": self.partition, "grants": self.grants.to_dict()}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], escalations: Mapping[str, Mapping[str, Any]]
    ) -> PrincipalBooks:
        """The books from the principal's record and its escalation records.

        A record written before escalations had records of their own holds them under
        ``escalations``; they are read from there too.
        """
        book = EscalationBook.from_dict(data.get("escalations"))
        for escalation_id, state in escalations.items():
            book.escalations[escalation_id] = EscalationState.from_dict(state)
        return cls(int(data["partition"]), book, GrantBook.from_dict(data.get("grants")))


@dataclass(frozen=True, slots=True)
class Escalated:
    """What became of an escalated event.

    ``how`` is ``grant`` (a live grant covers it: allow, citing ``grant``), ``break_glass``
    (allow now, flagged with ``reason``; ``review`` is the after-the-fact review just
    opened) or ``open`` (it waits for reviewers).
    """

    how: Literal["grant", "break_glass", "open"]
    grant: Grant | None = None
    review: EscalationState | None = None
    reason: str = ""


class ApprovalState:
    """Escalations and grants of the principals of this worker's partitions.

    Parameters
    ----------
    keyring
        Public keys of the services allowed to sign approvals.
    store
        Where the state is read from (for principals not in memory) and written to
        (:meth:`flush`); in memory when not given.
    one_time_seconds
        How long a one-time grant stays usable.
    timeout_effect
        Effect of the decision closing an escalation nobody decided in time.
    """

    def __init__(
        self,
        keyring: Keyring,
        store: ApprovalStore | None = None,
        *,
        one_time_seconds: int = 300,
        timeout_effect: TimeoutEffect = "deny",
    ) -> None:
        self.keyring = keyring
        self.store: ApprovalStore = store if store is not None else MemoryApprovalStore()
        self.one_time_seconds = one_time_seconds
        self.timeout_effect: TimeoutEffect = timeout_effect
        self._books: dict[str, PrincipalBooks] = {}
        # Principals whose record (partition, grants) changed, and escalations that changed,
        # by principal, since the last flush.
        self._dirty: set[str] = set()
        self._dirty_escalations: dict[str, set[str]] = {}
        # Principals whose books were created here and have no record yet: their first
        # escalation writes the record too (a look-up alone, such as a verdict naming an
        # unknown principal, writes nothing).
        self._unsaved: set[str] = set()
        #: Called with the Escalation record of every escalation opened (notifications).
        self.on_open: Callable[[Mapping[str, Any]], None] = lambda record: None

    def books(self, principal_id: str, partition: int) -> PrincipalBooks:
        """The principal's books (loaded, or new and empty)."""
        books = self._stored(principal_id)
        if books is None:
            books = self._books[principal_id] = PrincipalBooks(
                partition, EscalationBook(), GrantBook()
            )
            self._unsaved.add(principal_id)
        return books

    def _stored(self, principal_id: str) -> PrincipalBooks | None:
        books = self._books.get(principal_id)
        if books is None:
            data = self.store.principal(principal_id)
            if not data:
                return None
            books = PrincipalBooks.from_dict(data, self.store.escalations(principal_id))
            self._books[principal_id] = books
            if data.get("escalations"):
                # A record of the older layout: write its escalations as records of their own
                # and the record without them.
                self._changed(principal_id)
                for escalation_id in books.escalations.escalations:
                    self._changed(principal_id, escalation_id)
        return books

    def _changed(self, principal_id: str, escalation_id: str | None = None) -> None:
        """Mark the principal's record (or one of its escalations) for :meth:`flush`."""
        if escalation_id is None or principal_id in self._unsaved:
            # The record names the partition and lists the principal among those with state.
            self._dirty.add(principal_id)
        if escalation_id is not None:
            self._dirty_escalations.setdefault(principal_id, set()).add(escalation_id)

    def flush(self) -> None:
        """Write what changed since the last flush, each record once.

        Called once per batch, before the batch's outputs are handed to the producer, so a
        principal escalated a hundred times in a batch has its record written at most once
        and each escalation once; its other escalations are not written again.
        """
        dirty, self._dirty = self._dirty, set()
        escalations, self._dirty_escalations = self._dirty_escalations, {}
        self._unsaved -= dirty
        store = self.store
        for principal_id in dirty:
            books = self._books[principal_id]
            store.save_principal(principal_id, books.partition, books.to_dict())
        for principal_id, ids in escalations.items():
            books = self._books[principal_id]
            for escalation_id in sorted(ids):
                state = books.escalations.get(escalation_id)
                record = state.to_dict() if state is not None else None
                store.save_escalation(principal_id, books.partition, escalation_id, record)

    # -- the decider's side ------------------------------------------------------------------

    def escalated(
        self,
        event: Mapping[str, Any],
        escalation: Mapping[str, Any],
        requirement: ApprovalRequirement | None,
        partition: int,
        now_ms: int,
    ) -> Escalated:
        """Resolve an event the policy escalated: a live grant, break-glass, or a review.

        A grant is spent here when it is single-use; the escalation opened otherwise is
        published by the decider (its record is ``escalation``).
        """
        principal_id = event["principal"]["id"]
        books = self.books(principal_id, partition)
        grant = books.grants.find(event, now_ms)
        if grant is not None:
            grant = books.grants.consume(grant.grant_id, event["event_id"])
            self._changed(principal_id)
            return Escalated("grant", grant=grant)
        emergency = break_glass(escalation, requirement, now_ms)
        if emergency.allowed and emergency.review is not None:
            review = emergency.review
            books.escalations.open(review)
            self._changed(principal_id, review.escalation_id)
            self.on_open(
                {
                    **escalation,
                    "escalation_id": review.escalation_id,
                    "opened_at": review.opened_at,
                    "expires_at": review.expires_at,
                    "reasons": [emergency.reason, *escalation.get("reasons", [])],
                }
            )
            return Escalated("break_glass", review=emergency.review, reason=emergency.reason)
        opened = books.escalations.open(
            EscalationState.open(escalation, requirement, one_time_seconds=self.one_time_seconds)
        )
        self._changed(principal_id, opened.escalation_id)
        self.on_open(escalation)
        return Escalated("open")

    # -- the approvals agent's side ----------------------------------------------------------

    def apply(
        self, principal_id: str, partition: int, approval: Mapping[str, Any], now_ms: int
    ) -> tuple[ApprovalOutcome, EscalationState | None, Grant | None]:
        """Check and count one verdict; issue the grant when it approved the escalation.

        Returns the outcome, the escalation it named (``None`` when unknown) and the grant
        issued by this verdict (``None`` unless it closed an approval as approved).
        """
        books = self.books(principal_id, partition)
        outcome = books.escalations.apply(approval, now_ms, self.keyring)
        escalation_id = approval.get("escalation_id") if isinstance(approval, Mapping) else None
        state = books.escalations.get(escalation_id) if isinstance(escalation_id, str) else None
        grant = None
        if (
            outcome.decided
            and state is not None
            and state.status == "approved"
            and state.purpose == "approval"
        ):
            grant = books.grants.issue(state, now_ms)
            self._changed(principal_id)
        if state is not None:
            self._changed(principal_id, state.escalation_id)
        return outcome, state, grant

    # -- the timer's side --------------------------------------------------------------------

    def due(
        self, principal_ids: Iterable[str], partitions: set[int], now_ms: int
    ) -> tuple[list[tuple[EscalationState, ExpiryOutcome]], list[tuple[str, int, Grant]]]:
        """Close escalations past their deadline and remove grants past their expiry.

        Only principals of ``partitions`` (those this worker owns) are looked at. Returns
        ``(expired escalations with their outcome, (principal, partition, grant) revoked)``.
        """
        expired: list[tuple[EscalationState, ExpiryOutcome]] = []
        revoked: list[tuple[str, int, Grant]] = []
        for principal_id in list(principal_ids):
            stored = self._stored(principal_id)
            if stored is None:
                continue
            if stored.partition not in partitions:
                continue
            for outcome in stored.escalations.expire_due(now_ms, self.timeout_effect):
                state = stored.escalations.get(outcome.escalation_id)
                if state is not None:
                    expired.append((state, outcome))
                    self._changed(principal_id, outcome.escalation_id)
            for grant in stored.grants.expired(now_ms):
                stored.grants.revoke(grant.grant_id)
                revoked.append((principal_id, stored.partition, grant))
                self._changed(principal_id)
            for escalation_id in stored.escalations.prune(now_ms, CLOSED_RETENTION_MS):
                self._changed(principal_id, escalation_id)
        return expired, revoked

    # -- continuous evaluation ---------------------------------------------------------------

    def active_grants(
        self, principal_ids: Iterable[str], partitions: set[int], now_ms: int
    ) -> list[tuple[str, int, Grant, EscalationState | None]]:
        """Live grants (not expired, not consumed) of principals of ``partitions``, with the
        escalation each came from when it is still kept."""
        found = []
        for principal_id in list(principal_ids):
            stored = self._stored(principal_id)
            if stored is None or stored.partition not in partitions:
                continue
            for grant in stored.grants.grants.values():
                if grant.expires_at > now_ms and not (grant.single_use and grant.used):
                    state = stored.escalations.get(grant.escalation_id)
                    found.append((principal_id, stored.partition, grant, state))
        return found

    def covering_grant(self, event: Mapping[str, Any], now_ms: int) -> Grant | None:
        """The live grant that covers ``event`` (without spending it), if any."""
        stored = self._stored(event["principal"]["id"])
        return stored.grants.find(event, now_ms) if stored is not None else None

    def revoke_grant(self, principal_id: str, grant_id: str) -> Grant | None:
        """Take one grant back now; ``None`` when the principal no longer holds it."""
        stored = self._stored(principal_id)
        grant = stored.grants.revoke(grant_id) if stored is not None else None
        if grant is not None:
            self._changed(principal_id)
        return grant

    def revoke_grants(self, principal_id: str, partition: int, now_ms: int) -> list[Grant]:
        """Take back every live grant of a principal (a revoke decision on it); return them."""
        live = [
            grant
            for pid, _, grant, _ in self.active_grants([principal_id], {partition}, now_ms)
            if pid == principal_id
        ]
        stored = self._stored(principal_id)
        if stored is None or not live:
            return []
        for grant in live:
            stored.grants.revoke(grant.grant_id)
        self._changed(principal_id)
        return live

    def pending(self, principal_ids: Iterable[str]) -> list[EscalationState]:
        """Open escalations of these principals, soonest to expire first."""
        found = []
        for principal_id in principal_ids:
            books = self._stored(principal_id)
            if books is None:
                continue
            found.extend(books.escalations.pending())
        return sorted(found, key=lambda state: (state.expires_at, state.escalation_id))

    def find(
        self, principal_ids: Iterable[str], escalation_id: str
    ) -> tuple[int, EscalationState] | None:
        """The escalation of that id with its partition, among these principals."""
        for principal_id in principal_ids:
            books = self._stored(principal_id)
            if books is None:
                continue
            state = books.escalations.get(escalation_id)
            if state is not None:
                return books.partition, state
        return None

    def forget_unchanged(self) -> None:
        """Drop the in-memory books with no change waiting for :meth:`flush`: the next use
        reads them from the store again (after a table recovery)."""
        keep = self._dirty | self._dirty_escalations.keys()
        self._books = {p: books for p, books in self._books.items() if p in keep}
        self._unsaved &= keep

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop in-memory state of partitions this worker no longer owns."""
        for principal_id in [p for p, b in self._books.items() if b.partition in partitions]:
            del self._books[principal_id]
            # Unwritten changes go with the partition: its new owner recovers what committed.
            self._dirty.discard(principal_id)
            self._dirty_escalations.pop(principal_id, None)
            self._unsaved.discard(principal_id)
