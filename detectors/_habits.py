"""Building blocks of the profiles: event facts, surprisal, EWMAs and sliding windows.

Private to :mod:`clearance.detectors.profiles` and :mod:`clearance.detectors.peers`.
"""

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from clearance.detectors._events import (
    SENSITIVITY_LEVELS,
    event_ref,
    field,
    occurred_at_ms,
    peer_groups,
    resource_key,
    sensitivity_of,
)
from clearance.detectors._lru import touch
from clearance.detectors.errors import DetectorInputError

FORMAT = 1
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# A one-event-per-minute floor keeps a quiet principal's second event in a minute from
# looking like a burst.
RATE_FLOOR = 1.0
# Variance floor of log(1 + bytes): sd 0.5 (a factor of 1.65) so identical volumes do not
# make the next slightly different one look extreme.
VOLUME_VAR_FLOOR = 0.25
VOLUME_MIN_HISTORY = 5
VOLUME_CLIP_SD = 3.0
HOURS_DECAY_AT = 5_000
HOUR_PRIOR = 0.5


class Facts(NamedTuple):
    """What the profiles need from one ActionEvent, read once."""

    principal: str
    ms: int
    action: str
    resource: str
    sensitivity: str
    source: str | None
    volume: float | None
    data_bytes: float
    groups: list[str]


def event_facts(event: Mapping[str, Any]) -> Facts:
    """Read an event's facts, with an error naming the field when one is missing or wrong."""
    try:
        resource = event["resource"]
        principal = event["principal"]
        roles = principal.get("roles")
        data_bytes = event.get("data_bytes")
        if (resource.get("sensitivity") or "internal") not in SENSITIVITY_LEVELS:
            sensitivity_of(event)
        return Facts(
            principal=str(principal["id"]),
            ms=int(event["occurred_at"]),
            action=str(event["action"]),
            resource=f"{resource['type']}/{resource['id']}",
            sensitivity=resource.get("sensitivity") or "internal",
            source=event.get("source"),
            volume=math.log1p(max(float(data_bytes), 0.0)) if data_bytes is not None else None,
            data_bytes=max(float(data_bytes), 0.0) if data_bytes is not None else 0.0,
            # The same groups as peer_groups(event), without its checks on this hot path.
            groups=sorted(map(str, roles)) if roles else [f"type:{principal['type']}"],
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        # Slow path only to say exactly which field is wrong.
        field(event, "principal", "id")
        occurred_at_ms(event)
        field(event, "action")
        resource_key(event)
        sensitivity_of(event)
        peer_groups(event)
        raise DetectorInputError(
            f"{event_ref(event)}: data_bytes={event.get('data_bytes')!r} is not a number. "
            "Fix: publish data_bytes as an integer or null."
        ) from None


def surprisal(count: float, total: float) -> float:
    """``-log10((count + 0.5) / (total + 1)) / 3`` capped at 1 (one in a thousand or rarer)."""
    return min(1.0, -math.log10((count + 0.5) / (total + 1.0)) / 3.0)


def check_format(data: Mapping[str, Any], kind: str) -> None:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise DetectorInputError(
            f"{kind} state format {found!r} is not {FORMAT}. Fix: store what to_dict() "
            "returns; after an upgrade across formats, start the profiles afresh."
        )


def count_action(
    actions: dict[str, list[float]], facts: Facts, cap: int, alpha: float = 0.02
) -> None:
    """Count the action and learn its volume, as the most recently used action."""
    stats = actions.pop(facts.action, None) or [0.0, 0.0, 0.0, 0.0]
    stats[0] += 1
    if facts.volume is not None:
        learn_volume(stats, facts.volume, alpha)
    touch(actions, facts.action, stats, cap)


def learn_volume(stats: list[float], x: float, alpha: float) -> None:
    """Update ``[count, n, mean, variance]`` of ``log(1 + bytes)`` with ``x``.

    The first observations average exactly (weight 1/n) so a young profile is not ruled by its
    first value; later ones get ``alpha``. Past a few observations a value more than 3
    standard deviations out moves the mean by a clipped step and leaves the variance alone:
    otherwise a run of huge exports would inflate the variance within a few events and hide
    the rest of the run, while a lasting change of level is still learned, only slowly.
    """
    _, n, mean, var = stats
    n += 1
    weight = max(1.0 / n, alpha)
    deviation = x - mean
    if n > VOLUME_MIN_HISTORY:
        limit = VOLUME_CLIP_SD * math.sqrt(var + VOLUME_VAR_FLOOR)
        if abs(deviation) > limit:
            stats[1], stats[2] = n, mean + weight * math.copysign(limit, deviation)
            return
    stats[1], stats[2] = n, mean + weight * deviation
    stats[3] = (1.0 - weight) * (var + weight * deviation * deviation)


def sliding(window: list[float], ms: int, width_ms: int, amount: float) -> float:
    """Amount in the sliding window ending at ``ms``, ``amount`` of this event included.

    ``window`` is ``[bucket index, amount in it, amount in the bucket before, usual]``; the
    previous bucket counts in proportion to how much of it the sliding window still covers.
    """
    bucket, current, previous, _ = window
    index = ms // width_ms
    if index == bucket + 1:
        current, previous = 0.0, current
    elif index > bucket + 1:
        current, previous = 0.0, 0.0
    elapsed = (ms % width_ms) / width_ms
    return current + amount + previous * (1.0 - elapsed)


def advance(window: list[float], ms: int, width_ms: int, amount: float, alpha: float) -> None:
    """Add ``amount`` to the window's bucket of ``ms``, closing the open bucket if it is past.

    A closed bucket teaches the usual amount per active bucket (EWMA, winsorised at three
    times the usual so one burst does not teach the baseline that bursts are usual).
    """
    bucket, current, previous, usual = window
    index = ms // width_ms
    if index <= bucket:
        # Late events count in the open bucket: the rate is about now, not then.
        window[1] = current + amount
        return
    if current > 0:
        closed = current if usual < 0 else min(current, 3.0 * usual + 1.0)
        usual = closed if usual < 0 else usual + alpha * (closed - usual)
    previous = current if index == bucket + 1 else 0.0
    window[0], window[1], window[2], window[3] = float(index), amount, previous, usual
