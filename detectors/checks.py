"""Checks every detector must pass, in the spirit of scikit-learn's ``check_estimator``.

The test suite runs them over every scorer and change detector of this package; a new
detector should pass them too. Each check raises ``AssertionError`` with a message saying what
is wrong.
"""

import pickle
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.base import clone

from clearance.detectors.change import ChangeDetector, change_detector_from_dict
from clearance.detectors.profiles import ACCESS_FEATURES
from clearance.detectors.score import Score, Scorer

__all__ = ["check_change_detector", "check_scorer"]


def check_scorer(
    make: Callable[[], Scorer],
    train: np.ndarray,
    normal: np.ndarray,
    outlier: np.ndarray,
) -> None:
    """Check one access scorer.

    Parameters
    ----------
    make
        Builds an unfitted scorer.
    train
        Normal feature vectors to fit on.
    normal, outlier
        One typical and one obviously anomalous feature vector.

    Checks: the parameters rebuild an equal, independent scorer (``sklearn.base.clone``);
    ``fit`` returns the scorer; scores are finite and in [0, 1]; the outlier scores higher
    than the normal point; ``score_one`` agrees with ``score_samples`` and explains itself;
    a pickle round trip scores the same; the same seed gives the same scores.
    """
    scorer = make()
    params = scorer.get_params(deep=False)  # type: ignore[attr-defined]
    twin = clone(scorer)
    assert twin is not scorer, "clone returned the same object"
    assert twin.get_params(deep=False).keys() == params.keys(), "clone changed the parameters"
    assert scorer.fit(train) is scorer, "fit must return the scorer itself"
    batch = np.vstack([normal, outlier])
    values = scorer.score_samples(batch)
    assert values.shape == (2,), f"score_samples returned shape {values.shape}, expected (2,)"
    assert np.all(np.isfinite(values)), f"scores are not finite: {values}"
    assert np.all((values >= 0.0) & (values <= 1.0)), f"scores outside [0, 1]: {values}"
    assert values[1] > values[0], f"outlier scored {values[1]} <= normal point {values[0]}"
    names = scorer.get_params(deep=False).get("feature_names")  # type: ignore[attr-defined]
    keys: Sequence[str] = names or ACCESS_FEATURES
    one = scorer.score_one(dict(zip(keys, outlier.tolist(), strict=True)))
    assert isinstance(one, Score), f"score_one returned {type(one).__name__}, not Score"
    assert abs(one.value - values[1]) < 1e-9, "score_one disagrees with score_samples"
    assert one.explanation, "score_one gave no explanation"
    restored = pickle.loads(pickle.dumps(scorer))
    assert np.allclose(restored.score_samples(batch), values), "pickle round trip changed scores"
    again = clone(scorer).fit(train)
    assert np.allclose(again.score_samples(batch), values), "same parameters, different scores"


def check_change_detector(
    make: Callable[[], ChangeDetector],
    stationary: Sequence[float],
    shifted: Sequence[float],
) -> None:
    """Check one change detector.

    Parameters
    ----------
    make
        Builds a fresh detector.
    stationary
        A long stream without change (the detector must stay quiet on it).
    shifted
        A stream whose mean rises abruptly partway (the detector must alarm after the rise).

    Checks: quiet on the stationary stream; alarms on the shifted one; ``reset`` gives back
    a detector that behaves like a fresh one; clone and pickle round trips; the JSON state
    round trip continues exactly like the original.
    """
    detector = make()
    assert not any(detector.update(x) for x in stationary), "alarm on a stationary stream"
    detector.reset()
    alarms = [i for i, x in enumerate(shifted) if detector.update(x)]
    assert alarms, "no alarm on a stream with an abrupt shift"
    detector.reset()
    fresh = make()
    replay_a = [detector.update(x) for x in shifted]
    replay_b = [fresh.update(x) for x in shifted]
    assert replay_a == replay_b, "reset() did not bring the detector back to its fresh state"
    twin = clone(detector)
    assert twin.get_params() == detector.get_params(), "clone changed the parameters"  # type: ignore[attr-defined]
    half = len(shifted) // 2
    original = make()
    for x in shifted[:half]:
        original.update(x)
    pickled = pickle.loads(pickle.dumps(original))
    thawed = change_detector_from_dict(original.to_dict())
    rest = shifted[half:]
    expected = [original.update(x) for x in rest]
    assert [pickled.update(x) for x in rest] == expected, "pickle round trip changed behaviour"
    assert [thawed.update(x) for x in rest] == expected, "to_dict round trip changed behaviour"
