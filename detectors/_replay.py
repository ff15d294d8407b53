"""The profiles' batch hot path: each event's features, then learning from it, in one pass.

:meth:`PrincipalProfile.features` and :meth:`~PrincipalProfile.observe` (with
:meth:`PeerProfile.observe`) define the features and the learning, one event at a time.
:func:`replay_events` computes exactly the same numbers for a batch of events: it reads each
event once, looks each principal's profile and peer groups up once per batch, and inlines the
helpers of :mod:`clearance.detectors._habits`, which is most of what the per-event methods
cost. The arithmetic is the per-event methods', operation for operation; a test replays
workloads both ways and requires the same features and the same profiles, bit for bit, with
least-recently-used evictions and hour-histogram decays included. Change both together.

Private to :mod:`clearance.detectors.store`.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from clearance.detectors._events import SENSITIVE, SENSITIVITY_LEVELS
from clearance.detectors._habits import (
    DAY_MS,
    HOUR_MS,
    HOUR_PRIOR,
    HOURS_DECAY_AT,
    MINUTE_MS,
    RATE_FLOOR,
    VOLUME_CLIP_SD,
    VOLUME_MIN_HISTORY,
    VOLUME_VAR_FLOOR,
    advance,
    event_facts,
)
from clearance.detectors.peers import PeerProfile
from clearance.detectors.profiles import ACCESS_FEATURES, NOVELTY_ALPHA, PEER_MIN_EVENTS

if TYPE_CHECKING:
    from clearance.detectors.profiles import PrincipalProfile
    from clearance.detectors.store import ProfileStore

# ``hydrate(principal_id, groups)``: bring the principal's and the groups' stored profiles into
# the store before their first use (they are created empty when still missing afterwards).
Hydrate = Callable[[str, list[str]], None]

_WIDTH = len(ACCESS_FEATURES)
_INTERNAL = SENSITIVITY_LEVELS["internal"]
# A profile's action counter as the replay updates it: (actions, cap, volume alpha).
_Counter = tuple[dict[str, list[float]], int, float]


class Replay(NamedTuple):
    """What :func:`replay_events` returns."""

    matrix: np.ndarray
    """Row ``i``: the features of event ``i`` as seen just before it happened."""
    principals: dict[str, "PrincipalProfile"]
    """The principal profiles the batch changed, by principal id."""
    peers: dict[str, PeerProfile]
    """The peer profiles the batch changed, by group."""


def _groups(principal: Mapping[str, Any], roles: Any) -> list[str]:
    # The same groups as peer_groups(event), like event_facts().
    return sorted(map(str, roles)) if roles else [f"type:{principal['type']}"]


def replay_events(
    store: "ProfileStore", events: Sequence[Mapping[str, Any]], hydrate: Hydrate | None = None
) -> Replay:
    """For each event in order: its features, then learn from it (see the module docstring).

    Parameters
    ----------
    store
        Profiles to read and update.
    events
        ActionEvent dicts in occurred_at order.
    hydrate
        Called the first time the batch meets a principal (or its groups change), before its
        profiles are looked up.

    Returns
    -------
    Replay
        The feature matrix and the profiles that learnt from the batch.

    Raises
    ------
    DetectorInputError
        For an event lacking a field or holding a wrong value, naming it; the events before it
        have been learnt from.
    """
    flat: list[float] = []
    add = flat.extend
    # principal id -> (roles, type, profile, peer profiles, action counters) of the principal
    # in this batch; the counters are (actions, cap, volume alpha) of the profile, then of
    # each peer profile, so that one inlined loop counts the action in all of them.
    seen: dict[Any, tuple[Any, Any, PrincipalProfile, list[PeerProfile], list[_Counter]]] = {}
    changed_peers: dict[str, PeerProfile] = {}
    log10, log2, sqrt, log1p, copysign = math.log10, math.log2, math.sqrt, math.log1p, math.copysign
    levels = SENSITIVITY_LEVELS
    for event in events:
        try:
            principal = event["principal"]
            principal_id = principal["id"]
            roles = principal.get("roles")
            kind = principal.get("type")
            entry = seen.get(principal_id)
            if entry is None or entry[0] != roles or entry[1] != kind:
                groups = _groups(principal, roles)
                name = str(principal_id)
                if hydrate is not None:
                    hydrate(name, groups)
                peers = [store.peer(group) for group in groups]
                for group, peer in zip(groups, peers, strict=True):
                    changed_peers[group] = peer
                profile = store.profile(name)
                counters = [(profile.actions, profile.max_actions, profile.volume_alpha)]
                counters += [(peer.actions, peer.max_actions, 0.02) for peer in peers]
                entry = seen[principal_id] = (roles, kind, profile, peers, counters)
            _, _, profile, peers, counters = entry
            ms = int(event["occurred_at"])
            action = str(event["action"])
            resource_fields = event["resource"]
            resource = f"{resource_fields['type']}/{resource_fields['id']}"
            sensitivity = resource_fields.get("sensitivity") or "internal"
            level = levels[sensitivity]
            source = event.get("source")
            raw_bytes = event.get("data_bytes")
            if raw_bytes is None:
                volume = None
                data_bytes = 0.0
            else:
                data_bytes = max(float(raw_bytes), 0.0)
                volume = log1p(data_bytes)
        except (KeyError, TypeError, ValueError, AttributeError):
            event_facts(event)  # raises the error that names the field
            raise

        # -- features (PrincipalProfile._feature_row) --------------------------------------
        resources, sources, actions = profile.resources, profile.sources, profile.actions
        novelty, hours = profile.novelty, profile.hours
        events_before = profile.events
        first_resource = resource not in resources
        action_stats = actions.get(action)
        sensitive = sensitivity in SENSITIVE
        outside_peers = (
            sensitive
            and first_resource
            and (not peers or any(p.events >= PEER_MIN_EVENTS for p in peers))
            and not any(resource in p.sensitive_resources for p in peers)
        )
        local_ms = ms + int(profile.utc_offset_hours * HOUR_MS)
        hour = (local_ms // HOUR_MS) % 24
        weekday = (local_ms // DAY_MS + 3) % 7
        peer_rarity = 0.1
        first_peer = True
        for peer in peers:
            peer_stats = peer.actions.get(action)
            rarity = (
                -log10(((peer_stats[0] if peer_stats else 0.0) + 0.5) / (peer.events + 1.0)) / 3.0
            )
            if rarity > 1.0:
                rarity = 1.0
            if first_peer or rarity < peer_rarity:
                peer_rarity, first_peer = rarity, False
        source_count = None
        if source is None:
            first_source = source_rarity = 0.0
        else:
            settled = 1.0 - novelty[1]
            source_count = sources.get(source)
            if source_count is None:
                first_source, source_rarity = settled, 0.0
            else:
                first_source = 0.0
                rarity = -log10((source_count + 0.5) / (events_before + 1.0)) / 3.0
                source_rarity = settled * (rarity if rarity < 1.0 else 1.0)
        rate, hourly = profile.rate, profile.hourly_volume
        if rate[3] >= 0:
            bucket, current, previous, usual = rate
            index = ms // MINUTE_MS
            if index == bucket + 1:
                current, previous = 0.0, current
            elif index > bucket + 1:
                current, previous = 0.0, 0.0
            elapsed = (ms % MINUTE_MS) / MINUTE_MS
            in_window = current + 1.0 + previous * (1.0 - elapsed)
            rate_log2 = log2(in_window / (usual if usual > RATE_FLOOR else RATE_FLOOR))
        else:
            rate_log2 = 0.0
        if hourly[3] >= 0:
            bucket, current, previous, usual = hourly
            index = ms // HOUR_MS
            if index == bucket + 1:
                current, previous = 0.0, current
            elif index > bucket + 1:
                current, previous = 0.0, 0.0
            elapsed = (ms % HOUR_MS) / HOUR_MS
            in_window = current + data_bytes + previous * (1.0 - elapsed)
            volume_log2 = log2((in_window + 1.0) / (usual + 1.0))
        else:
            volume_log2 = 0.0
        total_hours = sum(hours)
        share = (hours[hour - 1] + hours[hour] + hours[(hour + 1) % 24] + 3 * HOUR_PRIOR) / (
            total_hours + 24 * HOUR_PRIOR
        )
        off_hours = 1.0 - 8.0 * share
        volume_z = 0.0
        if volume is not None:
            stats = action_stats
            if not stats or stats[1] < VOLUME_MIN_HISTORY:
                stats = None
                for peer in peers:
                    known = peer.actions.get(action)
                    if (
                        known is not None
                        and known[1] >= VOLUME_MIN_HISTORY
                        and (stats is None or known[1] > stats[1])
                    ):
                        stats = known
            if stats is not None:
                volume_z = (volume - stats[2]) / sqrt(stats[3] + VOLUME_VAR_FLOOR)
        rarity = -log10(((action_stats[0] if action_stats else 0.0) + 0.5) / (events_before + 1.0))
        rarity /= 3.0
        add(
            (
                1.0 - novelty[0] if first_resource else 0.0,
                0.0 if action_stats else 1.0,
                first_source,
                rarity if rarity < 1.0 else 1.0,
                peer_rarity,
                source_rarity,
                off_hours if off_hours > 0.0 else 0.0,
                1.0 if hour >= 22 or hour < 6 else 0.0,
                1.0 if weekday >= 5 else 0.0,
                rate_log2,
                volume_z,
                volume_log2,
                level,
                1.0 if outside_peers else 0.0,
            )
        )

        # -- learning (PrincipalProfile._observe, then PeerProfile._observe per group) ------
        count = profile.events = events_before + 1
        last_ms = profile.last_ms
        profile.last_ms = ms if last_ms is None or ms > last_ms else last_ms
        weight = 1.0 / count
        if weight < NOVELTY_ALPHA:
            weight = NOVELTY_ALPHA
        novelty[0] += weight * ((1.0 if first_resource else 0.0) - novelty[0])
        resources[resource] = resources.pop(resource, 0) + 1
        if len(resources) > profile.max_resources:
            _evict(resources, profile.max_resources)
        if source is not None:
            novelty[1] += weight * ((1.0 if source_count is None else 0.0) - novelty[1])
            sources[source] = sources.pop(source, 0) + 1
            if len(sources) > profile.max_sources:
                _evict(sources, profile.max_sources)
        # count_action() and learn_volume() of _habits, inlined for the profile and its peers.
        for counted, cap, alpha in counters:
            stats = counted.pop(action, None) or [0.0, 0.0, 0.0, 0.0]
            stats[0] += 1
            if volume is not None:
                _, n, mean, var = stats
                n += 1
                weight = 1.0 / n
                if weight < alpha:
                    weight = alpha
                deviation = volume - mean
                limit = VOLUME_CLIP_SD * sqrt(var + VOLUME_VAR_FLOOR)
                if n > VOLUME_MIN_HISTORY and abs(deviation) > limit:
                    stats[1], stats[2] = n, mean + weight * copysign(limit, deviation)
                else:
                    stats[1], stats[2] = n, mean + weight * deviation
                    stats[3] = (1.0 - weight) * (var + weight * deviation * deviation)
            counted[action] = stats
            if len(counted) > cap:
                _evict(counted, cap)
        hours[hour] += 1.0
        # The sum after the increment is total_hours + 1 give or take rounding far below 1,
        # so it needs computing only near the threshold.
        if total_hours + 2.0 > HOURS_DECAY_AT and sum(hours) > HOURS_DECAY_AT:
            profile.hours = [h / 2.0 for h in hours]
        if ms // MINUTE_MS <= rate[0]:
            rate[1] += 1.0
        else:
            advance(rate, ms, MINUTE_MS, 1.0, profile.rate_alpha)
        if ms // HOUR_MS <= hourly[0]:
            hourly[1] += data_bytes
        else:
            advance(hourly, ms, HOUR_MS, data_bytes, profile.rate_alpha)
        for peer in peers:
            peer.events += 1
            if sensitive:
                known_resources = peer.sensitive_resources
                known_resources[resource] = known_resources.pop(resource, 0) + 1
                if len(known_resources) > peer.max_sensitive_resources:
                    _evict(known_resources, peer.max_sensitive_resources)
    matrix = np.array(flat, dtype=float).reshape(-1, _WIDTH) if flat else np.zeros((0, _WIDTH))
    changed = {entry[2].principal_id: entry[2] for entry in seen.values()}
    return Replay(matrix, changed, changed_peers)


def _evict(entries: dict[str, Any], cap: int) -> None:
    while len(entries) > cap:
        del entries[next(iter(entries))]
