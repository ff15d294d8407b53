"""Page-Hinkley change detection, scale-free, with a degradation-only mode."""

import math

from clearance.detectors._detector import AlarmOn, _check_alarm_on, _check_value, _Detector
from clearance.detectors.errors import DetectorError

__all__ = ["PageHinkley"]


class PageHinkley(_Detector):
    """Page-Hinkley test (a CUSUM on deviations from the running mean), scale-free.

    Deviations are measured in standard deviations of the stream, so ``delta`` and
    ``threshold`` mean the same on an error rate and on a latency: each value adds
    ``(x - mean) / sd - delta`` to a cumulative sum, and an alarm fires when the sum rises
    ``threshold`` above its minimum (and symmetrically for decreases). The mean and standard
    deviation are running estimates since the last reset, unless ``scale`` fixes the
    standard deviation.

    The defaults (allowance 0.1 sd, threshold 50 sd) were chosen on seeds apart from the
    benchmark's: a 1 sd rise is found after about 50 values, a rise of an error rate from 0.1
    to 0.2 after about 200, with no false alarm in 2 million stationary values.

    Parameters
    ----------
    delta
        Allowance, in standard deviations: shifts smaller than about ``2 * delta`` are
        ignored.
    threshold
        Alarm level of the cumulative sum, in standard deviations; higher means fewer false
        alarms and longer delays.
    min_instances
        Values used to estimate mean and spread before the test starts.
    alpha
        Fading factor of the cumulative sums (1.0: no fading).
    scale
        Known standard deviation of the stream; None estimates it.
    alarm_on
        ``"both"``, ``"increase"`` or ``"decrease"``: which direction of change raises an alarm.
    """

    _state_fields = (
        "_n",
        "_mean",
        "_m2",
        "_sum_up",
        "_min_up",
        "_sum_down",
        "_max_down",
        "n_detections",
        "drift_detected",
    )

    def __init__(
        self,
        delta: float = 0.1,
        threshold: float = 50.0,
        min_instances: int = 30,
        alpha: float = 1.0,
        scale: float | None = None,
        alarm_on: AlarmOn = "both",
    ) -> None:
        self.delta = delta
        self.threshold = threshold
        self.min_instances = min_instances
        self.alpha = alpha
        self.scale = scale
        self.alarm_on = alarm_on
        self.reset()

    def reset(self) -> None:
        """Forget everything seen; parameters stay."""
        self.n_detections = 0
        self._restart()

    def _restart(self) -> None:
        _check_alarm_on(self.alarm_on)
        if self.min_instances < 2:
            raise DetectorError(
                f"PageHinkley min_instances={self.min_instances} must be at least 2 to estimate a "
                "spread. Fix: use 30."
            )
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._sum_up = 0.0
        self._min_up = 0.0
        self._sum_down = 0.0
        self._max_down = 0.0
        self.drift_detected = False

    @property
    def estimation(self) -> float:
        """Running mean since the last reset."""
        return self._mean

    def update(self, value: float) -> bool:
        """Add one value; return True when a change in the watched direction is detected.

        Parameters
        ----------
        value
            Next value of the stream (finite).

        Returns
        -------
        bool
            True at the value where the cumulative sum crossed ``threshold``; the detector then
            starts afresh from the next value.
        """
        x = _check_value(value, "PageHinkley")
        if self.drift_detected:
            self._restart()
        self._n += 1
        previous_mean = self._mean
        self._mean += (x - previous_mean) / self._n
        self._m2 += (x - previous_mean) * (x - self._mean)
        if self._n <= self.min_instances:
            return False
        if self.scale is not None:
            sd = self.scale
        else:
            # A floor keeps a constant warm-up (sd 0) from turning the next wiggle into infinity.
            sd = max(math.sqrt(self._m2 / (self._n - 1)), 1e-9 * max(1.0, abs(self._mean)))
        z = (x - previous_mean) / sd
        detected = False
        if self.alarm_on != "decrease":
            self._sum_up = self.alpha * self._sum_up + z - self.delta
            self._min_up = min(self._min_up, self._sum_up)
            detected = self._sum_up - self._min_up > self.threshold
        if self.alarm_on != "increase":
            self._sum_down = self.alpha * self._sum_down + z + self.delta
            self._max_down = max(self._max_down, self._sum_down)
            detected = detected or self._max_down - self._sum_down > self.threshold
        if detected:
            self.n_detections += 1
            self.drift_detected = True
        return detected
