import numpy as np
import pytest

from clearance.detectors import (
    ACCESS_FEATURES,
    DetectorError,
    DetectorInputError,
    Score,
    SignalScorer,
    Thresholds,
    as_matrix,
)


def test_as_matrix_accepts_dicts_and_arrays() -> None:
    row = {name: float(i) for i, name in enumerate(ACCESS_FEATURES)}
    from_dicts = as_matrix([row, row])
    assert from_dicts.shape == (2, len(ACCESS_FEATURES))
    assert np.array_equal(as_matrix(from_dicts), from_dicts)
    with pytest.raises(DetectorInputError, match="lacks"):
        as_matrix([{"rate_log2": 1.0}])
    with pytest.raises(DetectorInputError, match="columns"):
        as_matrix(np.zeros((3, 2)))


def test_thresholds_label_without_changing_values(train_matrix: np.ndarray) -> None:
    scorer = Thresholds(SignalScorer(), unusual=0.3, anomalous=0.6).fit(train_matrix)
    assert [scorer.label(v) for v in (0.0, 0.3, 0.59, 0.6, 1.0)] == [
        "normal",
        "unusual",
        "unusual",
        "anomalous",
        "anomalous",
    ]
    row = dict.fromkeys(ACCESS_FEATURES, 0.0)
    row["first_sensitive_outside_peers"] = 1.0
    score = scorer.score_one(row)
    assert score.label == "anomalous" and score.value >= 0.95
    assert np.array_equal(
        scorer.score_samples(train_matrix[:5]), SignalScorer().score_samples(train_matrix[:5])
    )
    with pytest.raises(DetectorError, match="order them"):
        Thresholds(SignalScorer(), unusual=0.9, anomalous=0.5).label(0.7)


def test_score_is_frozen() -> None:
    score = Score(0.5, "access", "burst")
    with pytest.raises(AttributeError):
        score.value = 0.9  # type: ignore[misc]


def test_non_finite_features_are_refused() -> None:
    with pytest.raises(DetectorInputError, match="NaN"):
        as_matrix(np.full((1, len(ACCESS_FEATURES)), np.nan))
