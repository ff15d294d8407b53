"""Change detectors over one numeric stream: ADWIN and Page-Hinkley.

Both follow one small interface (:class:`ChangeDetector`): ``update(value) -> bool`` returns
True on the update where a change is detected, ``reset()`` forgets everything, and
``to_dict()`` / :func:`change_detector_from_dict` turn the whole detector (parameters and state)
into JSON-ready plain data, so a streaming table can keep one per key.

``alarm_on`` gives the degradation-only mode: ``"increase"`` alarms only when the stream's mean
goes up (an error rate, a loss), ``"decrease"`` only when it goes down (an AUC, an accuracy),
``"both"`` on any change. A change the other way still makes the detector adapt (ADWIN drops
the old part of its window, Page-Hinkley keeps only the watched side), it just stays quiet.

The implementations are written here rather than wrapped from ``river`` because their state
must be JSON plain data; ``bench/detectors_quality.py`` compares both with river's on the same
streams.
"""

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from clearance.detectors._detector import STATE_FORMAT, AlarmOn, _Detector
from clearance.detectors.adwin import ADWIN
from clearance.detectors.errors import DetectorInputError
from clearance.detectors.page_hinkley import PageHinkley

__all__ = [
    "ADWIN",
    "AlarmOn",
    "ChangeDetector",
    "PageHinkley",
    "change_detector_from_dict",
]


@runtime_checkable
class ChangeDetector(Protocol):
    """What every change detector offers."""

    drift_detected: bool

    def update(self, value: float) -> bool:
        """Take one value; return True when a change is detected at this value."""
        ...

    def reset(self) -> None:
        """Forget all values seen, keep the parameters."""
        ...

    @property
    def estimation(self) -> float:
        """Current estimate of the stream's mean (after the last change)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Parameters and state as JSON-ready plain data."""
        ...


_DETECTORS: dict[str, type[_Detector]] = {"ADWIN": ADWIN, "PageHinkley": PageHinkley}


def change_detector_from_dict(data: Mapping[str, Any]) -> ADWIN | PageHinkley:
    """Rebuild a change detector from what its ``to_dict()`` returned.

    Parameters
    ----------
    data
        ``{"format", "detector", "params", "state"}`` as stored.

    Returns
    -------
    ADWIN or PageHinkley
        A detector equal to the one saved, ready for the next ``update``.
    """
    if data.get("format") != STATE_FORMAT or data.get("detector") not in _DETECTORS:
        raise DetectorInputError(
            f"change detector state format={data.get('format')!r} "
            f"detector={data.get('detector')!r} is not understood (expected format "
            f"{STATE_FORMAT}, detector one of {sorted(_DETECTORS)}). Fix: store what to_dict() "
            "returns, and reset the state after upgrading across state formats."
        )
    detector = _DETECTORS[data["detector"]](**data["params"])
    detector._load_state(data["state"])
    assert isinstance(detector, ADWIN | PageHinkley)
    return detector
