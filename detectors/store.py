"""An in-memory home for principal and peer profiles, for replays, training and tests.

The streaming layer keeps the same profiles in its tables (``to_dict`` / ``from_dict``); this
store does the same bookkeeping in two dicts so history can be replayed in one process.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from clearance.detectors._habits import Facts, event_facts
from clearance.detectors._native import replay_events
from clearance.detectors._replay import Hydrate, Replay
from clearance.detectors.peers import PeerProfile
from clearance.detectors.profiles import ACCESS_FEATURES, PrincipalProfile

__all__ = ["ProfileStore"]


class ProfileStore:
    """Principal profiles by principal id and peer profiles by group, created on first use.

    Parameters
    ----------
    max_resources, max_actions, max_sources
        Caps handed to every new :class:`PrincipalProfile`.
    max_peer_actions, max_peer_sensitive_resources
        Caps handed to every new :class:`PeerProfile`.
    """

    def __init__(
        self,
        max_resources: int = 256,
        max_actions: int = 64,
        max_sources: int = 32,
        max_peer_actions: int = 256,
        max_peer_sensitive_resources: int = 512,
    ) -> None:
        self.max_resources = max_resources
        self.max_actions = max_actions
        self.max_sources = max_sources
        self.max_peer_actions = max_peer_actions
        self.max_peer_sensitive_resources = max_peer_sensitive_resources
        self.principals: dict[str, PrincipalProfile] = {}
        self.peers: dict[str, PeerProfile] = {}

    def __repr__(self) -> str:
        return f"ProfileStore(principals={len(self.principals)}, peer_groups={len(self.peers)})"

    def profile(self, principal_id: str) -> PrincipalProfile:
        """Return the principal's profile, creating an empty one the first time."""
        found = self.principals.get(principal_id)
        if found is None:
            found = PrincipalProfile(
                principal_id, self.max_resources, self.max_actions, self.max_sources
            )
            self.principals[principal_id] = found
        return found

    def peer(self, group: str) -> PeerProfile:
        """Return the peer group's profile, creating an empty one the first time."""
        found = self.peers.get(group)
        if found is None:
            found = PeerProfile(group, self.max_peer_actions, self.max_peer_sensitive_resources)
            self.peers[group] = found
        return found

    def features(self, event: Mapping[str, Any]) -> dict[str, float]:
        """Features of ``event`` against the stored profiles, without learning from it."""
        facts = event_facts(event)
        principal = self.profile(facts.principal)
        return principal._features(facts, [self.peer(g) for g in facts.groups])

    def observe(self, event: Mapping[str, Any]) -> None:
        """Learn from ``event``: its principal's profile and each of its peer groups."""
        facts = event_facts(event)
        self.profile(facts.principal)._observe(facts)
        for group in facts.groups:
            self.peer(group)._observe(facts)

    def replay(self, events: Iterable[Mapping[str, Any]]) -> list[dict[str, float]]:
        """For each event in order: its features, then learn from it.

        Parameters
        ----------
        events
            ActionEvent dicts in occurred_at order.

        Returns
        -------
        list of dict
            The features of each event as seen just before it happened.
        """
        matrix = self.replay_events(list(events)).matrix
        return [dict(zip(ACCESS_FEATURES, row, strict=True)) for row in matrix.tolist()]

    def replay_events(
        self, events: Sequence[Mapping[str, Any]], hydrate: Hydrate | None = None
    ) -> Replay:
        """:meth:`replay` as one matrix, with the profiles the events changed: the batch hot
        path (each principal's profiles looked up once per batch, the per-event helpers
        inlined; the same numbers as :meth:`replay_facts`).

        Parameters
        ----------
        events
            ActionEvent dicts in occurred_at order.
        hydrate
            ``hydrate(principal_id, groups)``, called the first time the batch meets a
            principal, before its profile and its groups' are looked up: the moment to load
            them into :attr:`principals` / :attr:`peers` from elsewhere.

        Returns
        -------
        Replay
            ``matrix`` (row ``i``: the features of event ``i`` as seen just before it), and
            the changed ``principals`` (by id) and ``peers`` (by group).

        Raises
        ------
        DetectorInputError
            For an event lacking a field or holding a wrong value; the events before it have
            been learnt from.
        """
        return replay_events(self, events, hydrate)

    def replay_facts(self, facts: Sequence[Facts]) -> np.ndarray:
        """:meth:`replay` over events already read with ``event_facts``, as one matrix, one
        event at a time through the profiles' own methods (the reference
        :meth:`replay_events` is tested against).

        Returns
        -------
        numpy.ndarray
            Shape ``(len(facts), len(ACCESS_FEATURES))``: row ``i`` holds the features of
            event ``i`` as seen just before it happened.
        """
        rows: list[list[float]] = []
        principals, peer_profiles = self.principals, self.peers
        for fact in facts:
            principal = principals.get(fact.principal) or self.profile(fact.principal)
            peers = [peer_profiles.get(g) or self.peer(g) for g in fact.groups]
            rows.append(principal._feature_row(fact, peers))
            principal._observe(fact)
            for peer in peers:
                peer._observe(fact)
        if not rows:
            return np.zeros((0, len(ACCESS_FEATURES)))
        return np.array(rows, dtype=float)
