"""Where the approvals state lives: one record per principal, one per escalation.

A principal's record holds its input partition and its grants; each of its escalations is a
record of its own. A batch that opens one escalation for a principal with a hundred open ones
writes one escalation record, not the hundred: keeping the whole book under the principal's
key made every batch rewrite (and send to the changelog) every open escalation of every
principal it touched, which grew with the backlog of escalations awaiting review.

:class:`TableApprovalStore` keeps both kinds in changelog-backed tables (Faust recovers them
with the input partitions); :class:`MemoryApprovalStore` keeps them in dicts, for the library
without a broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["ApprovalStore", "MemoryApprovalStore", "TableApprovalStore"]

Record = Mapping[str, Any]

# Escalation keys are ``principal id + _SEPARATOR + escalation id``; escalation ids (UUIDs or
# hashes) never hold the separator, so the last one splits the key whatever the principal id.
_SEPARATOR = "\x1f"


class ApprovalStore(Protocol):
    """What :class:`~clearance.streams.approval_state.ApprovalState` reads and writes."""

    def principal(self, principal_id: str) -> Record | None:
        """The principal's record (partition and grants), ``None`` when it has none."""
        ...

    def escalations(self, principal_id: str) -> dict[str, Record]:
        """The principal's escalation records, by escalation id."""
        ...

    def principal_ids(self) -> list[str]:
        """Principals with a record (for the timers)."""
        ...

    def save_principal(self, principal_id: str, partition: int, record: Record) -> None:
        """Write the principal's record."""
        ...

    def save_escalation(
        self, principal_id: str, partition: int, escalation_id: str, record: Record | None
    ) -> None:
        """Write one escalation's record; ``None`` removes it."""
        ...


class MemoryApprovalStore:
    """Approvals state in dicts (no changelog): the records are the dicts written."""

    def __init__(self) -> None:
        self.principals: dict[str, Record] = {}
        self.escalation_records: dict[str, dict[str, Record]] = {}

    def principal(self, principal_id: str) -> Record | None:
        return self.principals.get(principal_id)

    def escalations(self, principal_id: str) -> dict[str, Record]:
        return dict(self.escalation_records.get(principal_id, {}))

    def principal_ids(self) -> list[str]:
        return list(self.principals)

    def save_principal(self, principal_id: str, partition: int, record: Record) -> None:
        self.principals[principal_id] = record

    def save_escalation(
        self, principal_id: str, partition: int, escalation_id: str, record: Record | None
    ) -> None:
        kept = self.escalation_records.setdefault(principal_id, {})
        if record is None:
            kept.pop(escalation_id, None)
        else:
            kept[escalation_id] = record


class KeyedState(Protocol):
    """The part of :class:`~clearance.streams.state.ChangelogState` the store uses."""

    def get(self, key: str) -> Any | None: ...

    def put(self, partition: int, key: str, value: Any) -> None: ...

    def delete(self, partition: int, key: str) -> None: ...

    def keys(self) -> list[str]: ...

    def __len__(self) -> int: ...


class TableApprovalStore:
    """Approvals state in two changelog-backed tables.

    Parameters
    ----------
    principals
        Keyed by principal id: ``{"partition": ..., "grants": ...}``.
    escalations
        Keyed by principal id and escalation id: the escalation's state.

    Finding a principal's escalations takes an index from principal to escalation ids. It is
    built from the escalation table's keys when first needed, kept up to date by this store's
    own writes, and rebuilt when the table holds a number of keys the index does not account
    for (a recovery wrote to it) or after :meth:`invalidate` (the app calls it when a
    rebalance completes or partitions are revoked).
    """

    def __init__(self, principals: KeyedState, escalations: KeyedState) -> None:
        self._principals = principals
        self._escalations = escalations
        self._index: dict[str, set[str]] | None = None
        self._indexed_keys = 0

    def invalidate(self) -> None:
        """Forget the index; the next look-up rebuilds it from the table."""
        self._index = None

    def _current_index(self) -> dict[str, set[str]]:
        index = self._index
        if index is None or self._indexed_keys != len(self._escalations):
            index = {}
            keys = self._escalations.keys()  # decoded from the table's bytes: not a dict view
            for key in keys:
                principal_id, _, escalation_id = key.rpartition(_SEPARATOR)
                index.setdefault(principal_id, set()).add(escalation_id)
            self._index = index
            self._indexed_keys = sum(map(len, index.values()))
        return index

    def principal(self, principal_id: str) -> Record | None:
        record: Record | None = self._principals.get(principal_id)
        return record

    def escalations(self, principal_id: str) -> dict[str, Record]:
        found = {}
        for escalation_id in self._current_index().get(principal_id, ()):
            record = self._escalations.get(principal_id + _SEPARATOR + escalation_id)
            if record is not None:
                found[escalation_id] = record
        return found

    def principal_ids(self) -> list[str]:
        return self._principals.keys()

    def save_principal(self, principal_id: str, partition: int, record: Record) -> None:
        self._principals.put(partition, principal_id, record)

    def save_escalation(
        self, principal_id: str, partition: int, escalation_id: str, record: Record | None
    ) -> None:
        index = self._current_index()
        key = principal_id + _SEPARATOR + escalation_id
        ids = index.setdefault(principal_id, set())
        if record is None:
            self._escalations.delete(partition, key)
            if escalation_id in ids:
                ids.discard(escalation_id)
                self._indexed_keys -= 1
        else:
            self._escalations.put(partition, key, record)
            if escalation_id not in ids:
                ids.add(escalation_id)
                self._indexed_keys += 1
