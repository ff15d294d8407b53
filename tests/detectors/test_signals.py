import numpy as np

from clearance.detectors import ACCESS_FEATURES, DEFAULT_WEIGHTS, RULE_FEATURE, SIGNALS
from clearance.detectors.signals import (
    FIXED_PHRASES,
    apply_rule_floor,
    describe,
    signal_strengths,
)


def _row(**values: float) -> np.ndarray:
    base = dict.fromkeys(ACCESS_FEATURES, 0.0)
    base.update(values)
    return np.array([[base[name] for name in ACCESS_FEATURES]])


def test_every_signal_has_a_default_weight_and_strengths_stay_in_range() -> None:
    assert {s.name for s in SIGNALS} == set(DEFAULT_WEIGHTS)
    extreme = _row(**dict.fromkeys(ACCESS_FEATURES, 50.0))
    strengths = signal_strengths(np.vstack([_row(), extreme]))
    assert strengths.shape == (2, len(SIGNALS))
    assert np.all((strengths >= 0) & (strengths <= 1))
    assert strengths[0].max() == 0.0


def test_rule_floor_lifts_rule_rows_and_keeps_their_order() -> None:
    X = np.vstack([_row(), _row(**{RULE_FEATURE: 1.0}), _row(**{RULE_FEATURE: 1.0})])
    lifted = apply_rule_floor(np.array([0.1, 0.1, 0.6]), X, 0.95)
    assert lifted[0] == 0.1
    assert 0.95 <= lifted[1] < lifted[2] <= 1.0


def test_describe_names_the_event_and_the_strongest_signals_first() -> None:
    features = dict(zip(ACCESS_FEATURES, _row(rate_log2=4.0, sensitivity=1.0)[0], strict=True))
    features[RULE_FEATURE] = 1.0
    event = {
        "action": "data.export",
        "resource": {"type": "dataset", "id": "customers"},
        "principal": {"roles": ["analyst"]},
    }
    text = describe(features, {"burst": 0.4, "off_hours": 0.2, "night": 0.01}, event)
    assert text.startswith(
        "first access to restricted dataset customers, which no peer in "
        "analyst has touched; 16x the principal's usual rate; outside"
    )
    assert "night" not in text
    assert describe(dict.fromkeys(ACCESS_FEATURES, 0.0), {"burst": 0.0}) == "nothing unusual"


def test_fixed_phrases_name_nothing_of_the_event() -> None:
    features = [
        dict(zip(ACCESS_FEATURES, _row(**dict.fromkeys(ACCESS_FEATURES, x))[0], strict=True))
        for x in (0.0, 0.7)
    ]
    events = [None, {"action": "data.export", "source": "vpn", "resource": {"id": "x"}}]
    for signal in SIGNALS:
        if signal.name in FIXED_PHRASES:
            phrases = {signal.phrase(f, e) for f in features for e in events}
            assert len(phrases) == 1, signal.name
