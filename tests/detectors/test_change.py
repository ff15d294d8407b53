import json

import numpy as np
import pytest

from clearance.detectors import (
    ADWIN,
    DetectorError,
    DetectorInputError,
    PageHinkley,
    change_detector_from_dict,
)


def _first_alarm(detector: ADWIN | PageHinkley, values: np.ndarray) -> int | None:
    for i, value in enumerate(values.tolist()):
        if detector.update(value):
            return i
    return None


@pytest.mark.parametrize("make", [lambda: ADWIN(), lambda: PageHinkley()])
def test_detects_a_one_sd_rise_within_100_values(make: object) -> None:
    rng = np.random.default_rng(11)
    values = np.r_[rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)]
    alarm = _first_alarm(make(), values)  # type: ignore[operator]
    assert alarm is not None and 1000 <= alarm <= 1100


@pytest.mark.parametrize("cls", [ADWIN, PageHinkley])
def test_degradation_only_ignores_improvements(cls: type[ADWIN] | type[PageHinkley]) -> None:
    rng = np.random.default_rng(5)
    falling = np.r_[rng.normal(0.3, 0.05, 500), rng.normal(0.1, 0.05, 1500)]
    assert _first_alarm(cls(alarm_on="increase"), falling) is None
    assert _first_alarm(cls(alarm_on="decrease"), falling) is not None
    assert _first_alarm(cls(alarm_on="both"), falling) is not None


def test_state_is_json_and_survives_a_round_trip() -> None:
    detector = PageHinkley(alarm_on="increase")
    for value in np.random.default_rng(4).normal(0, 1, 200).tolist():
        detector.update(value)
    thawed = change_detector_from_dict(json.loads(json.dumps(detector.to_dict())))
    assert thawed.get_params() == detector.get_params()
    assert thawed.estimation == detector.estimation


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(DetectorInputError, match="finite"):
        ADWIN().update(float("nan"))


def test_bad_parameters_say_how_to_fix_them() -> None:
    with pytest.raises(DetectorError, match="alarm_on"):
        PageHinkley(alarm_on="up")  # type: ignore[arg-type]
    with pytest.raises(DetectorError, match="delta"):
        ADWIN(delta=2.0)


def test_unknown_state_is_refused() -> None:
    with pytest.raises(DetectorInputError, match="not understood"):
        change_detector_from_dict({"format": 1, "detector": "KSWIN", "params": {}, "state": {}})
