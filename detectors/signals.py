"""Explicit, explainable signals over the access features, and the sentences they produce.

Each :class:`Signal` maps a feature matrix to a strength in [0, 1] per row and has a weight
(its largest contribution). Signals combine as a noisy-OR, ``1 - prod(1 - weight * strength)``:
one strong signal is enough to stand out, several weak ones add up, and the result stays in
[0, 1].

The rule ``first_sensitive_outside_peers`` is not a weighted signal: an event with that feature
set scores ``rule_floor + (1 - rule_floor) * score``, so every first access to a confidential
or restricted resource that no peer has touched is flagged whatever else the scorer says,
while such events still rank among themselves.

The default weights were set by judgement before the quality benchmark was run (how much one
signal alone should raise an alert), not fitted to it: a burst or a volume spike alone can
reach "unusual"; a first access alone to a restricted resource that peers use gets close to it.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clearance.detectors.profiles import ACCESS_FEATURES

__all__ = [
    "DEFAULT_WEIGHTS",
    "FIXED_PHRASES",
    "MIN_CONTRIBUTION",
    "NOTHING_UNUSUAL",
    "RULE_FEATURE",
    "SIGNALS",
    "Signal",
    "apply_rule_floor",
    "describe",
    "describe_ranked",
    "signal_strengths",
]

RULE_FEATURE = "first_sensitive_outside_peers"
MIN_CONTRIBUTION = 0.05
NOTHING_UNUSUAL = "nothing unusual"
_COL = {name: i for i, name in enumerate(ACCESS_FEATURES)}
_SENSITIVITY_NAMES = ("public", "internal", "confidential", "restricted")


def _ramp(x: np.ndarray, start: float, full: float) -> np.ndarray:
    """0 below ``start``, 1 above ``full``, linear between."""
    return np.clip((x - start) / (full - start), 0.0, 1.0)


def _col(X: np.ndarray, name: str) -> np.ndarray:
    return X[:, _COL[name]]


def _sensitivity_name(value: float) -> str:
    return _SENSITIVITY_NAMES[max(0, min(3, round(value * 3)))]


def _resource_name(event: Mapping[str, Any] | None) -> str:
    if not event or not isinstance(event.get("resource"), Mapping):
        return "resource"
    resource = event["resource"]
    return f"{resource.get('type', 'resource')} {resource.get('id', '?')}"


def _action_name(event: Mapping[str, Any] | None) -> str:
    return str(event.get("action")) if event and event.get("action") else "this action"


@dataclass(frozen=True)
class Signal:
    """One explicit signal.

    Attributes
    ----------
    name
        Short name, the key of its weight.
    strength
        Feature matrix (columns in ACCESS_FEATURES order) to strengths in [0, 1].
    phrase
        Features of one event (and the event, when known) to a short phrase.
    """

    name: str
    strength: Callable[[np.ndarray], np.ndarray]
    phrase: Callable[[Mapping[str, float], Mapping[str, Any] | None], str]


def _rule_phrase(f: Mapping[str, float], e: Mapping[str, Any] | None) -> str:
    groups = ", ".join((e or {}).get("principal", {}).get("roles") or []) or "its peer group"
    return (
        f"first access to {_sensitivity_name(f['sensitivity'])} {_resource_name(e)}, "
        f"which no peer in {groups} has touched"
    )


SIGNALS: tuple[Signal, ...] = (
    Signal(
        "new_resource",
        lambda X: _col(X, "first_seen_resource") * (0.25 + 0.75 * _col(X, "sensitivity")),
        lambda f, e: f"first access to {_sensitivity_name(f['sensitivity'])} {_resource_name(e)}",
    ),
    Signal(
        "new_action",
        lambda X: _col(X, "first_seen_action") * (0.3 + 0.7 * _col(X, "action_rarity_peers")),
        lambda f, e: f"first time the principal does {_action_name(e)}",
    ),
    Signal(
        "new_source",
        lambda X: _col(X, "first_seen_source"),
        lambda f, e: f"new source {(e or {}).get('source') or ''}".rstrip(),
    ),
    Signal(
        "rare_source",
        lambda X: _ramp(_col(X, "source_rarity"), 0.5, 0.9) * (1.0 - _col(X, "first_seen_source")),
        lambda f, e: f"rarely used source {(e or {}).get('source') or ''}".rstrip(),
    ),
    Signal(
        "rare_action_for_principal",
        lambda X: (
            _ramp(_col(X, "action_rarity_principal"), 0.5, 1.0)
            * (1.0 - _col(X, "first_seen_action"))
        ),
        lambda f, e: f"{_action_name(e)} is rare for the principal",
    ),
    Signal(
        "rare_action_for_peers",
        lambda X: _ramp(_col(X, "action_rarity_peers"), 0.4, 0.9),
        lambda f, e: f"{_action_name(e)} is rare for the principal's peers",
    ),
    Signal(
        "off_hours",
        lambda X: _ramp(_col(X, "off_hours"), 0.3, 1.0),
        lambda f, e: "outside the principal's usual hours",
    ),
    Signal("night", lambda X: _col(X, "night"), lambda f, e: "at night"),
    Signal("weekend", lambda X: _col(X, "weekend"), lambda f, e: "on a weekend"),
    Signal(
        "burst",
        lambda X: _ramp(_col(X, "rate_log2"), 1.5, 5.0),
        lambda f, e: f"{2 ** f['rate_log2']:.0f}x the principal's usual rate",
    ),
    Signal(
        "volume",
        lambda X: _ramp(_col(X, "volume_z"), 2.0, 6.0),
        lambda f, e: (
            f"data volume {f['volume_z']:.1f} sd above the principal's usual for {_action_name(e)}"
        ),
    ),
    Signal(
        "volume_burst",
        lambda X: _ramp(_col(X, "hourly_volume_log2"), 2.0, 6.0),
        lambda f, e: (
            f"{2 ** f['hourly_volume_log2']:.0f}x the principal's usual data volume per hour"
        ),
    ),
    Signal(
        "sensitive",
        lambda X: _ramp(_col(X, "sensitivity"), 0.5, 1.0),
        lambda f, e: f"{_sensitivity_name(f['sensitivity'])} resource",
    ),
)

FIXED_PHRASES: frozenset[str] = frozenset({"off_hours", "night", "weekend"})
"""Signals whose phrase names nothing of the event or its features: a batch can explain all
the rows that name only these (and the forest) with a few sentences built once."""

DEFAULT_WEIGHTS: dict[str, float] = {
    "new_resource": 0.45,
    "new_action": 0.5,
    "new_source": 0.35,
    "rare_source": 0.35,
    "rare_action_for_principal": 0.3,
    "rare_action_for_peers": 0.5,
    "off_hours": 0.35,
    "night": 0.1,
    "weekend": 0.1,
    "burst": 0.6,
    "volume": 0.6,
    "volume_burst": 0.5,
    "sensitive": 0.1,
}


def signal_strengths(X: np.ndarray) -> np.ndarray:
    """Strength of every signal for every row: shape ``(n_rows, len(SIGNALS))``."""
    # Clipping keeps the weights meaning "largest contribution" even for out-of-range input.
    return np.clip(np.column_stack([signal.strength(X) for signal in SIGNALS]), 0.0, 1.0)


def apply_rule_floor(values: np.ndarray, X: np.ndarray, rule_floor: float) -> np.ndarray:
    """Lift rows with the rule feature set into ``[rule_floor, 1]``, keeping their order."""
    rule = _col(X, RULE_FEATURE) > 0.5
    return np.where(rule, rule_floor + (1.0 - rule_floor) * values, values)


def describe(
    features: Mapping[str, float],
    contributions: Mapping[str, float],
    event: Mapping[str, Any] | None = None,
    limit: int = 3,
    min_contribution: float = MIN_CONTRIBUTION,
) -> str:
    """Name what drove a score, strongest first, as one short line.

    Parameters
    ----------
    features
        The event's features.
    contributions
        Signal name (or ``"forest"``) to its weighted contribution.
    event
        The event itself, to name its resource, action and source.
    limit
        Most phrases to include besides the rule.
    min_contribution
        Contributions below this are not worth naming.

    Returns
    -------
    str
        For example ``"first access to restricted dataset customers, which no peer in analyst
        has touched; 14x the principal's usual rate; outside the principal's usual hours"``.
    """
    ranked = sorted(contributions.items(), key=lambda item: -item[1])[:limit]
    rule = features.get(RULE_FEATURE, 0.0) > 0.5
    return describe_ranked(
        features, rule, [n for n, _ in ranked], [v for _, v in ranked], event, min_contribution
    )


_BY_NAME = {signal.name: signal for signal in SIGNALS}


def describe_ranked(
    features: Mapping[str, float],
    rule: bool,
    names: Sequence[str],
    values: Sequence[float],
    event: Mapping[str, Any] | None = None,
    min_contribution: float = MIN_CONTRIBUTION,
) -> str:
    """:func:`describe` of contributions already ranked, strongest first, and cut to the
    limit (``names[i]`` contributes ``values[i]``), with the rule feature already read: what
    a scorer has at hand for each row of a batch."""
    phrases = [_rule_phrase(features, event)] if rule else []
    for name, value in zip(names, values, strict=True):
        if value < min_contribution or not math.isfinite(value):
            break
        if name == "forest":
            phrases.append(f"unusual combination for the isolation forest ({value:.2f})")
        elif name == "new_resource" and rule:
            continue  # the rule phrase already says it
        else:
            phrases.append(_BY_NAME[name].phrase(features, event))
    return "; ".join(phrases) if phrases else NOTHING_UNUSUAL
