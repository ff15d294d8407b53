import numpy as np
import pytest

from clearance.detectors import (
    ACCESS_FEATURES,
    RULE_FEATURE,
    SIGNALS,
    AccessScorer,
    DetectorError,
    ForestScorer,
    SignalScorer,
)
from clearance.detectors.signals import describe


def test_forest_is_calibrated_on_its_training_data(train_matrix: np.ndarray) -> None:
    scorer = ForestScorer(n_estimators=50, seed=0).fit(train_matrix)
    values = scorer.score_samples(train_matrix)
    assert np.median(values) == pytest.approx(0.0, abs=1e-3)
    assert np.mean(values >= 0.5) <= 0.002  # the 99.9th percentile maps to 0.5


def test_unfitted_scorers_say_so() -> None:
    with pytest.raises(DetectorError, match="not fitted"):
        ForestScorer().score_samples(np.zeros((1, len(ACCESS_FEATURES))))
    with pytest.raises(DetectorError, match="not fitted"):
        AccessScorer().score_samples(np.zeros((1, len(ACCESS_FEATURES))))


def test_signal_weights_are_checked_and_applied() -> None:
    row = dict.fromkeys(ACCESS_FEATURES, 0.0)
    row["rate_log2"] = 5.0
    assert SignalScorer({"burst": 0.6}).score_one(row).value == pytest.approx(0.6)
    assert SignalScorer({"burst": 0.0}).score_one(row).value == 0.0
    with pytest.raises(DetectorError, match="unknown signal"):
        SignalScorer({"bursts": 1.0}).score_one(row)


def test_combined_score_is_never_below_either_part(train_matrix: np.ndarray) -> None:
    scorer = AccessScorer(n_estimators=50, seed=0).fit(train_matrix)
    sample = train_matrix[::50]
    combined = scorer.score_samples(sample)
    assert np.all(combined >= SignalScorer().score_samples(sample) - 1e-12)
    assert np.all(combined >= 0.5 * scorer.forest_.score_samples(sample) - 1e-12)
    assert np.all(combined <= 1.0)


def test_batch_explanations_read_as_describe_of_each_row(train_matrix: np.ndarray) -> None:
    scorer = AccessScorer(n_estimators=50, seed=0).fit(train_matrix)
    odd = train_matrix[::40].copy()
    odd[::3, ACCESS_FEATURES.index("night")] = 1.0
    odd[1::3, ACCESS_FEATURES.index(RULE_FEATURE)] = 1.0
    odd[2::5, ACCESS_FEATURES.index("rate_log2")] = 4.0
    # Rows twice over: the second time, rows naming only fixed phrases reuse their text.
    sample = np.vstack([odd, odd])
    matrix, parts, forest = scorer._parts(sample)
    names = [s.name for s in SIGNALS]
    expected = [
        describe(
            dict(zip(ACCESS_FEATURES, row, strict=True)),
            {**dict(zip(names, contributions, strict=True)), "forest": forest_part},
        )
        for row, contributions, forest_part in zip(matrix, parts, forest, strict=True)
    ]
    assert [s.explanation for s in scorer.score_batch(sample)] == expected
    assert len(set(expected)) < len(expected) and any("forest" in t for t in expected)
