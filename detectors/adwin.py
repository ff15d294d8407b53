"""ADWIN, adaptive windowing change detection, with a degradation-only mode."""

import math

from clearance.detectors._detector import AlarmOn, _check_alarm_on, _check_value, _Detector
from clearance.detectors.errors import DetectorError

__all__ = ["ADWIN"]


class ADWIN(_Detector):
    """Adaptive windowing (ADWIN2, Bifet & Gavaldà 2007) with a degradation-only mode.

    Keeps a window of recent values in an exponential histogram of buckets and drops its older
    part whenever two sub-windows have means further apart than a Bernstein-type bound allows
    at confidence ``delta``. Works on any bounded or unbounded numeric stream; the bound uses
    the window's variance, so the values need no scaling.

    Parameters
    ----------
    delta
        Confidence of the cut test; smaller means fewer false alarms and longer delays.
    clock
        Check for a cut every ``clock`` updates (32 suits dense streams; use 1 for sparse ones
        such as one evaluation a day).
    max_buckets
        Buckets of each size kept before two merge; bounds the state at about
        ``max_buckets * log2(window)`` buckets.
    min_window_length
        Smallest sub-window on either side of a cut.
    grace_period
        Values seen before the first check.
    alarm_on
        ``"both"``, ``"increase"`` or ``"decrease"``: which direction of change raises an alarm.
    """

    _state_fields = (
        "_rows",
        "_width",
        "_total",
        "_m2",
        "_ticks",
        "_seen",
        "n_detections",
        "drift_detected",
    )

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
        alarm_on: AlarmOn = "both",
    ) -> None:
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.alarm_on = alarm_on
        self.reset()

    def reset(self) -> None:
        """Forget the window; parameters stay."""
        _check_alarm_on(self.alarm_on)
        if not 0.0 < self.delta < 1.0:
            raise DetectorError(f"ADWIN delta={self.delta!r} must be in (0, 1). Fix: use 0.002.")
        # _rows[i] holds buckets of 2**i values, oldest first, each as [total, m2].
        self._rows: list[list[list[float]]] = [[]]
        self._width = 0
        self._total = 0.0
        self._m2 = 0.0
        self._ticks = 0
        self._seen = 0
        self.n_detections = 0
        self.drift_detected = False

    @property
    def width(self) -> int:
        """Number of values in the current window."""
        return self._width

    @property
    def estimation(self) -> float:
        """Mean of the current window."""
        return self._total / self._width if self._width else 0.0

    @property
    def variance(self) -> float:
        """Variance of the current window."""
        return self._m2 / self._width if self._width else 0.0

    def update(self, value: float) -> bool:
        """Add one value; return True when a change in the watched direction is detected.

        Parameters
        ----------
        value
            Next value of the stream (finite).

        Returns
        -------
        bool
            True at the value where ADWIN cut its window after a change in the direction
            ``alarm_on`` watches.
        """
        x = _check_value(value, "ADWIN")
        self._insert(x)
        self._seen += 1
        self._ticks += 1
        self.drift_detected = False
        if self._ticks >= self.clock and self._seen >= self.grace_period:
            self._ticks = 0
            direction = self._shrink()
            if direction and (
                self.alarm_on == "both"
                or (self.alarm_on == "increase" and direction > 0)
                or (self.alarm_on == "decrease" and direction < 0)
            ):
                self.n_detections += 1
                self.drift_detected = True
        return self.drift_detected

    def _insert(self, x: float) -> None:
        if self._width:
            mean = self._total / self._width
            self._m2 += self._width * (x - mean) ** 2 / (self._width + 1)
        self._width += 1
        self._total += x
        self._rows[0].append([x, 0.0])
        size = 1
        for level in range(len(self._rows)):
            row = self._rows[level]
            if len(row) <= self.max_buckets:
                break
            (t1, v1), (t2, v2) = row[0], row[1]
            del row[:2]
            merged = [t1 + t2, v1 + v2 + size * (t1 / size - t2 / size) ** 2 / 2.0]
            if level + 1 == len(self._rows):
                self._rows.append([])
            self._rows[level + 1].append(merged)
            size *= 2

    def _drop_oldest(self) -> None:
        level = len(self._rows) - 1
        while not self._rows[level]:
            self._rows.pop()
            level -= 1
        total, m2 = self._rows[level].pop(0)
        size = 1 << level
        rest = self._width - size
        if rest > 0:
            rest_mean = (self._total - total) / rest
            self._m2 -= m2 + size * rest / self._width * (total / size - rest_mean) ** 2
            self._m2 = max(self._m2, 0.0)
        else:
            self._m2 = 0.0
        self._width = rest
        self._total -= total
        if not self._rows[level] and level > 0:
            self._rows.pop()

    def _shrink(self) -> int:
        """Drop old buckets while a cut exists; return the sign of the first change found."""
        direction = 0
        cut = True
        while cut and self._width > 2 * self.min_window_length:
            cut = False
            n0 = 0
            t0 = 0.0
            variance = self._m2 / self._width
            log_term = math.log(2.0 * math.log(self._width) / self.delta)
            for level in range(len(self._rows) - 1, -1, -1):
                size = 1 << level
                for total, _ in self._rows[level]:
                    n0 += size
                    t0 += total
                    n1 = self._width - n0
                    if n1 < self.min_window_length:
                        break
                    if n0 < self.min_window_length:
                        continue
                    gap = (self._total - t0) / n1 - t0 / n0
                    m = 1.0 / n0 + 1.0 / n1
                    bound = math.sqrt(2.0 * m * variance * log_term) + 2.0 / 3.0 * log_term * m
                    if abs(gap) > bound:
                        cut = True
                        if not direction:
                            direction = 1 if gap > 0 else -1
                        break
                if cut:
                    break
            if cut:
                self._drop_oldest()
        return direction
