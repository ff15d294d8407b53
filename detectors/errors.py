"""Errors the detectors raise on purpose.

Every one derives from :class:`clearance.errors.ClearanceError`, so the CLI prints it as one line
with its fix.
"""

from clearance.errors import ClearanceError

__all__ = ["DetectorError", "DetectorInputError", "ModelMismatchError"]


class DetectorError(ClearanceError):
    """A detector cannot do what was asked (not fitted, too little history, bad parameter)."""


class DetectorInputError(DetectorError):
    """An event or value handed to a detector lacks a field or has one of the wrong kind."""


class ModelMismatchError(DetectorError):
    """A saved access model does not match this library (feature list, sidecar, checksum)."""
