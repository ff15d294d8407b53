"""Per-principal and per-peer-group behaviour profiles, and the access features they give.

A :class:`PrincipalProfile` remembers one principal's habits: resources, actions and sources it
used (bounded LRU counters), its hours (a 24-bin histogram), its event rate (EWMA of events per
active minute) and its data volumes per action (EWMA mean and variance of ``log(1 + bytes)``).
A :class:`PeerProfile` remembers what one peer group (a role, or a principal type for
principals without roles) does: action counts and the sensitive resources any member touched.

Ask for features *before* observing the event: ``profile.features(event, peers)`` then
``profile.observe(event)`` and ``peer.observe(event)`` for each peer group (for a batch of
events, :meth:`ProfileStore.replay_events` does both in one pass, with the same numbers). Both
classes turn into small JSON-ready dicts (``to_dict`` / ``from_dict``) for a streaming table
keyed by principal id or group name; caps keep them to a few tens of kilobytes at most.

Feature meanings (all floats, :data:`ACCESS_FEATURES` gives the order):

``first_seen_resource`` / ``first_seen_source``
    For a resource (source) the principal has not used (within its bounded memory): one
    minus the share of its recent events that brought a new resource (source), else 0.0. A
    principal that settled on a few resources scores close to 1 on a new one; one that
    touches something new all the time (a newcomer, a crawler, an agent behind rotating
    addresses) scores close to 0, because novelty is its habit. An event without a source
    gives 0.0 for the source.
``first_seen_action``
    1.0 when the principal has not done the action (within its bounded memory), else 0.0.
``action_rarity_principal`` / ``action_rarity_peers`` / ``source_rarity``
    Surprisal, ``-log10(p) / 3`` capped at 1, with ``p = (count + 0.5) / (events + 1)``: of
    the action for the principal, of the action for its peer groups (the smallest value over
    them), of a known source for the principal (0.0 without a source or for a new one, which
    ``first_seen_source`` covers), the source's scaled like ``first_seen_source`` by how
    settled the principal's sources are. Unlike first-seen, rarity stays high while a
    newcomer is still a small share: a stolen token used from one new address keeps showing
    after its first event.
``off_hours``
    How far the hour lies outside the principal's usual hours: ``1 - min(1, 8 p)`` where ``p``
    is the share of its events within one hour of this one (``8 p`` is 1 for a principal whose
    activity is spread evenly over the day, so round-the-clock agents never look off-hours).
``night`` / ``weekend``
    Absolute: local hour in [22, 6), local Saturday or Sunday (``utc_offset_hours`` of the
    profile gives local time).
``rate_log2``
    ``log2`` of the events in the last sliding minute (this one included) over the principal's
    usual events per active minute (floored at 1); 0.0 until the principal's first active
    minute has closed (no baseline yet).
``volume_z``
    z-score of ``log(1 + data_bytes)`` against the principal's EWMA for this action (against
    its peer groups' while the principal has fewer than 5 observations of it); 0.0 without
    data_bytes or history.
``hourly_volume_log2``
    ``log2`` of the bytes moved in the last sliding hour (this event included) over the
    principal's usual bytes per active hour: many exports in a row add up here even when each
    alone looks ordinary; 0.0 until its first active hour has closed.
``sensitivity``
    public 0, internal 1/3, confidential 2/3, restricted 1.
``first_sensitive_outside_peers``
    1.0 for a first access to a confidential or restricted resource that no member of any of
    the principal's peer groups has touched, once one of those groups has seen at least
    :data:`PEER_MIN_EVENTS` events (before that, the group is too young to know its
    resources). Scorers treat it as a rule: such an event always
    scores at least their ``rule_floor`` (see :mod:`clearance.detectors.signals`).
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

from clearance.detectors._events import SENSITIVE, SENSITIVITY_LEVELS
from clearance.detectors._habits import (
    DAY_MS,
    FORMAT,
    HOUR_MS,
    HOUR_PRIOR,
    HOURS_DECAY_AT,
    MINUTE_MS,
    RATE_FLOOR,
    VOLUME_MIN_HISTORY,
    VOLUME_VAR_FLOOR,
    Facts,
    advance,
    check_format,
    count_action,
    event_facts,
    sliding,
    surprisal,
)
from clearance.detectors._lru import touch_count
from clearance.detectors.errors import DetectorInputError
from clearance.detectors.peers import PeerProfile

__all__ = ["ACCESS_FEATURES", "PrincipalProfile"]

# Smallest weight of one event in the novelty shares (about the last 500 events count, so a
# burst of new resources does not make novelty a habit within the burst).
NOVELTY_ALPHA = 0.002
# A peer group that has seen fewer events than this says nothing about what is foreign to it:
# in a fresh deployment every sensitive resource is one "no peer has touched".
PEER_MIN_EVENTS = 200

ACCESS_FEATURES: tuple[str, ...] = (
    "first_seen_resource",
    "first_seen_action",
    "first_seen_source",
    "action_rarity_principal",
    "action_rarity_peers",
    "source_rarity",
    "off_hours",
    "night",
    "weekend",
    "rate_log2",
    "volume_z",
    "hourly_volume_log2",
    "sensitivity",
    "first_sensitive_outside_peers",
)


class PrincipalProfile:
    """One principal's habits, bounded in size, with the features of its next event.

    Parameters
    ----------
    principal_id
        The principal this profile describes.
    max_resources, max_actions, max_sources
        Caps of the least-recently-used counters of resources, actions and sources.
    utc_offset_hours
        The principal's local time offset, for the absolute night and weekend features.
    rate_alpha
        EWMA weight of each closed active minute in the usual rate.
    volume_alpha
        Smallest EWMA weight of each observation in the volume statistics (the first ones
        average exactly).
    """

    def __init__(
        self,
        principal_id: str,
        max_resources: int = 256,
        max_actions: int = 64,
        max_sources: int = 32,
        utc_offset_hours: float = 0.0,
        rate_alpha: float = 0.05,
        volume_alpha: float = 0.02,
    ) -> None:
        self.principal_id = principal_id
        self.max_resources = max_resources
        self.max_actions = max_actions
        self.max_sources = max_sources
        self.utc_offset_hours = utc_offset_hours
        self.rate_alpha = rate_alpha
        self.volume_alpha = volume_alpha
        self.events = 0
        self.last_ms: int | None = None
        self.resources: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        # action -> [count, volume observations, volume mean, volume variance]
        self.actions: dict[str, list[float]] = {}
        self.hours: list[float] = [0.0] * 24
        # [minute index, events in it, events in the minute before, usual rate or -1]
        self.rate: list[float] = [-1.0, 0.0, 0.0, -1.0]
        # [hour index, bytes in it, bytes in the hour before, usual bytes per hour or -1]
        self.hourly_volume: list[float] = [-1.0, 0.0, 0.0, -1.0]
        # [share of recent events with a new resource, with a new source]
        self.novelty: list[float] = [1.0, 1.0]

    def __repr__(self) -> str:
        return f"PrincipalProfile(principal_id={self.principal_id!r}, events={self.events})"

    def features(
        self, event: Mapping[str, Any], peers: Sequence[PeerProfile] = ()
    ) -> dict[str, float]:
        """Describe how unusual ``event`` is for this principal, before observing it.

        Parameters
        ----------
        event
            An ActionEvent dict of this principal.
        peers
            The PeerProfiles of the principal's peer groups (its roles). Without them, every
            first access to a sensitive resource counts as outside the peer group.

        Returns
        -------
        dict
            One float per name of :data:`ACCESS_FEATURES`.
        """
        return self._features(event_facts(event), peers)

    def _features(self, facts: Facts, peers: Sequence[PeerProfile]) -> dict[str, float]:
        return dict(zip(ACCESS_FEATURES, self._feature_row(facts, peers), strict=True))

    def _feature_row(self, facts: Facts, peers: Sequence[PeerProfile]) -> list[float]:
        """The features as a list in :data:`ACCESS_FEATURES` order (the hot path)."""
        first_resource = facts.resource not in self.resources
        action_stats = self.actions.get(facts.action)
        sensitive = facts.sensitivity in SENSITIVE
        outside_peers = (
            sensitive
            and first_resource
            and (not peers or any(p.events >= PEER_MIN_EVENTS for p in peers))
            and not any(p.knows(facts.resource) for p in peers)
        )
        local_ms = facts.ms + int(self.utc_offset_hours * HOUR_MS)
        hour = (local_ms // HOUR_MS) % 24
        weekday = (local_ms // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
        peer_rarity = min((p.action_rarity(facts.action) for p in peers), default=0.1)
        source = facts.source
        if source is None:
            first_source = source_rarity = 0.0
        else:
            settled = 1.0 - self.novelty[1]
            count = self.sources.get(source)
            first_source = settled if count is None else 0.0
            source_rarity = 0.0 if count is None else settled * surprisal(count, self.events)
        rate, hourly = self.rate, self.hourly_volume
        # Without a closed minute (hour) there is no usual rate (volume) to compare with:
        # a newcomer's first minute is not a burst against an imagined baseline.
        rate_log2 = (
            math.log2(sliding(rate, facts.ms, MINUTE_MS, 1.0) / max(rate[3], RATE_FLOOR))
            if rate[3] >= 0
            else 0.0
        )
        volume_log2 = (
            math.log2(
                (sliding(hourly, facts.ms, HOUR_MS, facts.data_bytes) + 1.0) / (hourly[3] + 1.0)
            )
            if hourly[3] >= 0
            else 0.0
        )
        return [
            1.0 - self.novelty[0] if first_resource else 0.0,
            0.0 if action_stats else 1.0,
            first_source,
            surprisal(action_stats[0] if action_stats else 0.0, self.events),
            peer_rarity,
            source_rarity,
            self._off_hours(hour),
            1.0 if hour >= 22 or hour < 6 else 0.0,
            1.0 if weekday >= 5 else 0.0,
            rate_log2,
            self._volume_z(facts, action_stats, peers),
            volume_log2,
            SENSITIVITY_LEVELS.get(facts.sensitivity, 1.0 / 3.0),
            1.0 if outside_peers else 0.0,
        ]

    def _off_hours(self, hour: int) -> float:
        hours = self.hours
        near = hours[hour - 1] + hours[hour] + hours[(hour + 1) % 24]
        share = (near + 3 * HOUR_PRIOR) / (sum(hours) + 24 * HOUR_PRIOR)
        return max(0.0, 1.0 - 8.0 * share)

    def _volume_z(
        self, facts: Facts, action_stats: list[float] | None, peers: Sequence[PeerProfile]
    ) -> float:
        if facts.volume is None:
            return 0.0
        stats = action_stats
        if not stats or stats[1] < VOLUME_MIN_HISTORY:
            # A principal's first exports are judged against what its peers export.
            known = [p.actions.get(facts.action) for p in peers]
            usable = [s for s in known if s and s[1] >= VOLUME_MIN_HISTORY]
            if not usable:
                return 0.0
            stats = max(usable, key=lambda s: s[1])
        return (facts.volume - stats[2]) / math.sqrt(stats[3] + VOLUME_VAR_FLOOR)

    def observe(self, event: Mapping[str, Any]) -> None:
        """Learn from one event of this principal (call after :meth:`features`)."""
        self._observe(event_facts(event))

    def _observe(self, facts: Facts) -> None:
        self.events += 1
        self.last_ms = facts.ms if self.last_ms is None else max(self.last_ms, facts.ms)
        # Share of recent events that brought a new resource (source): exact mean over the
        # first events, then an EWMA.
        weight = max(1.0 / self.events, NOVELTY_ALPHA)
        novelty = self.novelty
        new_resource = 0.0 if facts.resource in self.resources else 1.0
        novelty[0] += weight * (new_resource - novelty[0])
        touch_count(self.resources, facts.resource, self.max_resources)
        if facts.source is not None:
            new_source = 0.0 if facts.source in self.sources else 1.0
            novelty[1] += weight * (new_source - novelty[1])
            touch_count(self.sources, facts.source, self.max_sources)
        count_action(self.actions, facts, self.max_actions, self.volume_alpha)
        local_ms = facts.ms + int(self.utc_offset_hours * HOUR_MS)
        self.hours[(local_ms // HOUR_MS) % 24] += 1.0
        if sum(self.hours) > HOURS_DECAY_AT:
            # Halving lets habits move (a new shift) while keeping the numbers small.
            self.hours = [h / 2.0 for h in self.hours]
        advance(self.rate, facts.ms, MINUTE_MS, 1.0, self.rate_alpha)
        advance(self.hourly_volume, facts.ms, HOUR_MS, facts.data_bytes, self.rate_alpha)

    def to_dict(self) -> dict[str, Any]:
        """Return parameters and state as JSON-ready plain data."""
        return {
            "format": FORMAT,
            "principal_id": self.principal_id,
            "max_resources": self.max_resources,
            "max_actions": self.max_actions,
            "max_sources": self.max_sources,
            "utc_offset_hours": self.utc_offset_hours,
            "rate_alpha": self.rate_alpha,
            "volume_alpha": self.volume_alpha,
            "events": self.events,
            "last_ms": self.last_ms,
            "resources": dict(self.resources),
            "sources": dict(self.sources),
            "actions": {k: list(v) for k, v in self.actions.items()},
            "hours": list(self.hours),
            "rate": list(self.rate),
            "hourly_volume": list(self.hourly_volume),
            "novelty": list(self.novelty),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PrincipalProfile":
        """Rebuild a profile from what ``to_dict`` returned."""
        check_format(data, "PrincipalProfile")
        profile = cls(
            data["principal_id"],
            max_resources=data["max_resources"],
            max_actions=data["max_actions"],
            max_sources=data["max_sources"],
            utc_offset_hours=data["utc_offset_hours"],
            rate_alpha=data["rate_alpha"],
            volume_alpha=data["volume_alpha"],
        )
        profile.events = int(data["events"])
        profile.last_ms = data["last_ms"]
        profile.resources = {str(k): int(v) for k, v in data["resources"].items()}
        profile.sources = {str(k): int(v) for k, v in data["sources"].items()}
        profile.actions = {str(k): [float(x) for x in v] for k, v in data["actions"].items()}
        profile.hours = [float(x) for x in data["hours"]]
        profile.rate = [float(x) for x in data["rate"]]
        profile.hourly_volume = [float(x) for x in data["hourly_volume"]]
        # States written before novelty was kept start as a newcomer's.
        profile.novelty = [float(x) for x in data.get("novelty", (1.0, 1.0))]
        if len(profile.hours) != 24 or len(profile.rate) != 4 or len(profile.hourly_volume) != 4:
            raise DetectorInputError(
                f"PrincipalProfile {profile.principal_id!r}: hours, rate or hourly_volume have "
                "the wrong length. Fix: store what to_dict() returns."
            )
        return profile
