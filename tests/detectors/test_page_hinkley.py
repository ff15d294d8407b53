import numpy as np
import pytest

from clearance.detectors import DetectorError, PageHinkley


def test_thresholds_are_in_standard_deviations() -> None:
    """The same relative shift is found at the same index whatever the stream's scale."""
    noise = np.random.default_rng(6).normal(0, 1, 1200)
    noise[600:] += 1.0
    small, large = PageHinkley(), PageHinkley()
    first_small = next(i for i, x in enumerate((0.001 * noise + 5).tolist()) if small.update(x))
    first_large = next(i for i, x in enumerate((1000 * noise - 7).tolist()) if large.update(x))
    assert first_small == first_large
    assert 600 <= first_small <= 700


def test_known_scale_replaces_the_estimate() -> None:
    detector = PageHinkley(scale=1.0, threshold=5.0, min_instances=5)
    values = [0.0] * 10 + [1.0] * 20
    alarms = [i for i, x in enumerate(values) if detector.update(x)]
    # Each value after the change adds (1 - running mean) - delta to the sum.
    assert alarms and 10 <= alarms[0] <= 18


def test_restarts_after_an_alarm_but_keeps_counting() -> None:
    detector = PageHinkley(min_instances=5, threshold=5.0)
    values = [0.0, 0.1] * 20 + [5.0] * 5 + [0.0, 0.1] * 20
    for value in values:
        detector.update(value)
    assert detector.n_detections >= 1
    assert detector.estimation < 1.0  # the restart forgot the values before the alarm
    detector.reset()
    assert detector.n_detections == 0


def test_constant_warm_up_does_not_divide_by_zero() -> None:
    detector = PageHinkley(min_instances=5)
    for _ in range(100):
        assert not detector.update(1.0)
    assert any(detector.update(2.0) for _ in range(200))


def test_min_instances_below_two_is_refused() -> None:
    with pytest.raises(DetectorError, match="min_instances"):
        PageHinkley(min_instances=1)
