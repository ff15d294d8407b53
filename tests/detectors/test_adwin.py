import numpy as np
import pytest

from clearance.detectors import ADWIN


def test_adwin_drops_the_old_window_after_a_change() -> None:
    detector = ADWIN()
    rng = np.random.default_rng(2)
    for value in np.r_[rng.normal(0, 1, 2000), rng.normal(3, 1, 300)].tolist():
        detector.update(value)
    assert detector.n_detections >= 1
    assert detector.width < 600
    assert detector.estimation == pytest.approx(3.0, abs=0.3)


def test_adwin_window_statistics_match_numpy() -> None:
    detector = ADWIN(delta=1e-9)
    values = np.random.default_rng(3).normal(5, 2, 3000)
    for value in values.tolist():
        detector.update(value)
    assert detector.width == 3000
    assert detector.estimation == pytest.approx(values.mean())
    assert detector.variance == pytest.approx(values.var())
    # The exponential histogram keeps O(log n) buckets, not the values.
    assert sum(len(row) for row in detector._rows) < 80


def test_reset_forgets_detections() -> None:
    detector = ADWIN()
    values = np.r_[np.zeros(500), np.ones(500) * 5]
    for value in values.tolist():
        if detector.update(value):
            break
    assert detector.n_detections == 1
    detector.reset()
    assert detector.n_detections == 0 and detector.width == 0


def test_an_improvement_shrinks_the_window_without_an_alarm() -> None:
    detector = ADWIN(alarm_on="increase")
    values = np.r_[np.full(1000, 0.3), np.full(1000, 0.1)] + np.random.default_rng(8).normal(
        0, 0.01, 2000
    )
    assert not any(detector.update(v) for v in values.tolist())
    # The old level is dropped up to bucket granularity (buckets hold up to 64 values here).
    assert detector.width <= 1100
    assert detector.estimation == pytest.approx(0.1, abs=0.02)
