"""The shared check suite, run over every detector of the package (and shown to fail)."""

from collections.abc import Callable

import numpy as np
import pytest

from clearance.detectors import (
    ACCESS_FEATURES,
    ADWIN,
    AccessScorer,
    ForestScorer,
    PageHinkley,
    SignalScorer,
    Thresholds,
    check_change_detector,
    check_scorer,
)

SCORERS: dict[str, Callable[[], object]] = {
    "forest": lambda: ForestScorer(n_estimators=50, seed=1),
    "signals": lambda: SignalScorer(),
    "access": lambda: AccessScorer(n_estimators=50, seed=1),
    "thresholds": lambda: Thresholds(AccessScorer(n_estimators=50, seed=1)),
}

DETECTORS: dict[str, Callable[[], object]] = {
    "adwin": lambda: ADWIN(),
    "adwin-increase": lambda: ADWIN(alarm_on="increase"),
    "adwin-clock1": lambda: ADWIN(clock=1, delta=0.0005),
    "page-hinkley": lambda: PageHinkley(),
    "page-hinkley-increase": lambda: PageHinkley(alarm_on="increase"),
}


def _outlier() -> np.ndarray:
    values = dict.fromkeys(ACCESS_FEATURES, 0.0)
    values.update(
        first_seen_resource=1.0,
        first_seen_action=1.0,
        first_seen_source=1.0,
        action_rarity_principal=1.0,
        action_rarity_peers=1.0,
        source_rarity=1.0,
        off_hours=1.0,
        night=1.0,
        rate_log2=6.0,
        volume_z=8.0,
        hourly_volume_log2=9.0,
        sensitivity=1.0,
    )
    return np.array([values[name] for name in ACCESS_FEATURES])


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_every_scorer_passes_the_checks(name: str, train_matrix: np.ndarray) -> None:
    normal = np.median(train_matrix, axis=0)
    check_scorer(SCORERS[name], train_matrix, normal, _outlier())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_change_detector_passes_the_checks(name: str) -> None:
    rng = np.random.default_rng(7)
    stationary = rng.normal(0.0, 1.0, 4000).tolist()
    shifted = np.r_[rng.normal(0.0, 1.0, 500), rng.normal(2.0, 1.0, 500)].tolist()
    check_change_detector(DETECTORS[name], stationary, shifted)  # type: ignore[arg-type]


class _ConstantScorer(SignalScorer):
    """Scores everything the same: must fail the outlier check."""

    def score_samples(self, X: object) -> np.ndarray:  # type: ignore[override]
        return np.full(len(np.asarray(X)), 0.5)


class _JumpyDetector(PageHinkley):
    """Alarms on every 100th value: must fail the stationary check."""

    def update(self, value: float) -> bool:
        self._n += 1
        return self._n % 100 == 0


def test_check_scorer_catches_a_scorer_that_cannot_tell_outliers(train_matrix: np.ndarray) -> None:
    normal = np.median(train_matrix, axis=0)
    with pytest.raises(AssertionError, match="outlier scored"):
        check_scorer(_ConstantScorer, train_matrix, normal, _outlier())  # type: ignore[arg-type]


def test_check_change_detector_catches_false_alarms() -> None:
    stationary = [0.0, 1.0] * 500
    with pytest.raises(AssertionError, match="stationary"):
        check_change_detector(_JumpyDetector, stationary, stationary)  # type: ignore[arg-type]
