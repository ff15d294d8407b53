"""Unusual-access risk on the stream: detectors' profiles per input partition, scored in batches.

The decider hands each batch of decoded events (with their input partitions) to
:class:`AccessRisk`, which returns, per event, the ``detectors`` map that policy conditions see
(``detectors.access.score``, ``detectors.access.label``) and the explanation the decision
records. Profiles live in one :class:`~clearance.detectors.ProfileStore` per input partition;
the Faust app persists them in a changelog-backed table through the ``load`` / ``save``
callables, so a worker that takes over a partition takes over its profiles too.

Peer groups are learnt per partition: a partition's peers are the principals keyed to it, a
sample of the whole population (a quarter of it with four partitions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from clearance.detectors import (
    AccessModel,
    PeerProfile,
    PrincipalProfile,
    ProfileStore,
    peer_groups,
)

__all__ = ["AccessRisk", "RiskAssessment"]

Load = Callable[[str], Any]
Save = Callable[[int, str, Any], None]


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """What the detectors say about one event."""

    detectors: dict[str, dict[str, Any]]
    scores: dict[str, float]
    explanations: list[str]


def _principal_key(principal_id: str) -> str:
    return f"principal:{principal_id}"


def _peer_key(partition: int, group: str) -> str:
    return f"peers:{partition}:{group}"


class AccessRisk:
    """Scores action events against their principal's and peers' learnt behaviour.

    Parameters
    ----------
    model:
        The access model (trained, or the cold-start one).
    load:
        ``load(key) -> dict | None``: a profile's stored state, for profiles not in memory.
    save:
        ``save(partition, key, state)``: persist a profile changed by the last batch.
    """

    def __init__(self, model: AccessModel, load: Load | None = None, save: Save | None = None):
        self.model = model
        self._load = load or (lambda key: None)
        self._save = save or (lambda partition, key, state: None)
        self._stores: dict[int, ProfileStore] = {}
        self._dirty: dict[str, tuple[int, Any]] = {}

    def _store(self, partition: int) -> ProfileStore:
        store = self._stores.get(partition)
        if store is None:
            store = self._stores[partition] = ProfileStore()
        return store

    def _hydrate(self, store: ProfileStore, partition: int, event: dict[str, Any]) -> None:
        principal_id = event["principal"]["id"]
        if principal_id not in store.principals:
            state = self._load(_principal_key(principal_id))
            if state is not None:
                store.principals[principal_id] = PrincipalProfile.from_dict(state)
        for group in peer_groups(event):
            if group not in store.peers:
                state = self._load(_peer_key(partition, group))
                if state is not None:
                    store.peers[group] = PeerProfile.from_dict(state)

    def assess(
        self, events: Sequence[dict[str, Any]], partitions: Sequence[int]
    ) -> list[RiskAssessment]:
        """Score ``events`` (learning from each after scoring it); one assessment per event."""
        by_partition: dict[int, list[int]] = {}
        for index, partition in enumerate(partitions):
            by_partition.setdefault(partition, []).append(index)
        out: list[RiskAssessment | None] = [None] * len(events)
        for partition, indexes in by_partition.items():
            store = self._store(partition)
            batch = [events[i] for i in indexes]
            for event in batch:
                self._hydrate(store, partition, event)
            scores = self.model.score_events(batch, store)
            for i, event, score in zip(indexes, batch, scores, strict=True):
                out[i] = RiskAssessment(
                    detectors={"access": {"score": score.value, "label": score.label}},
                    scores={"access": score.value},
                    explanations=[f"access {score.value:.2f} ({score.label}): {score.explanation}"],
                )
                principal_id = event["principal"]["id"]
                self._dirty[_principal_key(principal_id)] = (
                    partition,
                    store.principals[principal_id],
                )
                for group in peer_groups(event):
                    self._dirty[_peer_key(partition, group)] = (partition, store.peers[group])
        return [a for a in out if a is not None]

    def flush(self) -> int:
        """Persist every profile the batches since the last flush changed; returns the count."""
        count = len(self._dirty)
        for key, (partition, profile) in self._dirty.items():
            self._save(partition, key, profile.to_dict())
        self._dirty.clear()
        return count

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop in-memory profiles of partitions this worker no longer owns."""
        for partition in partitions:
            self._stores.pop(partition, None)
