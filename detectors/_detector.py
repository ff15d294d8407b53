"""Shared base of the change detectors: parameters through scikit-learn, state as JSON data."""

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from sklearn.base import BaseEstimator

from clearance.detectors.errors import DetectorError, DetectorInputError

AlarmOn = Literal["both", "increase", "decrease"]
_ALARM_ON = ("both", "increase", "decrease")
STATE_FORMAT = 1


def _check_alarm_on(alarm_on: str) -> None:
    if alarm_on not in _ALARM_ON:
        raise DetectorError(f"alarm_on={alarm_on!r} is not one of {_ALARM_ON}. Fix: pick one.")


def _check_value(value: float, detector: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise DetectorInputError(
            f"{detector}.update({value!r}): the value must be a finite number. Fix: drop or "
            "impute missing metric values before feeding the detector."
        )
    return number


class _Detector(BaseEstimator):  # type: ignore[misc]
    """Shared to_dict / from_dict; subclasses name their state attributes."""

    _state_fields: ClassVar[tuple[str, ...]] = ()
    drift_detected: bool

    def to_dict(self) -> dict[str, Any]:
        """Return parameters and state as JSON-ready plain data.

        Returns
        -------
        dict
            ``{"format", "detector", "params", "state"}``; give it to
            :func:`change_detector_from_dict` to get an equal detector back.
        """
        return {
            "format": STATE_FORMAT,
            "detector": type(self).__name__,
            "params": dict(self.get_params()),
            "state": {name: _plain(getattr(self, name)) for name in self._state_fields},
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        missing = [name for name in self._state_fields if name not in state]
        if missing:
            raise DetectorInputError(
                f"{type(self).__name__} state lacks {missing}. Fix: store what to_dict() returns."
            )
        for name in self._state_fields:
            setattr(self, name, _restore(state[name]))


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, list):
        return [_restore(item) for item in value]
    return value
