"""The benchmark's own error."""

from __future__ import annotations

from clearance.errors import ClearanceError

__all__ = ["BenchError"]


class BenchError(ClearanceError):
    """A benchmark step failed; the message says which, and where the log is."""
