"""Fault drills: make the audit store fail or slow down on purpose, from outside the process.

An operator (or a fault test) proves the sink's guarantees against a store outage by writing a
mode into a drill file; the writer reads it before every insert:

- ``unreachable``: every insert fails as a refused connection would (nothing reaches the store);
- ``lost-response``: every insert reaches the store, then fails as if the answer was lost;
- ``slow:<seconds>``: every insert waits that long first (a store that cannot keep up).

No file, an empty file or any other text: no fault. The file is named by
``CLEARANCE_AUDIT_DRILL_FILE``; unset, the writer never looks.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from clickhouse_connect.driver.exceptions import OperationalError

__all__ = ["StoreDrill"]


class StoreDrill:
    """Reads the drill file and applies its mode around one insert.

    Parameters
    ----------
    path
        The drill file; it need not exist.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def mode(self) -> str:
        """The drill's mode now ("" when there is none)."""
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def before_insert(self, table: str) -> str:
        """Apply ``unreachable`` and ``slow:`` modes; return the mode for :meth:`after_insert`."""
        mode = self.mode()
        if mode == "unreachable":
            raise OperationalError(
                f"insert into {table}: connection refused (audit store drill: {self.path})"
            )
        if mode.startswith("slow:"):
            with contextlib.suppress(ValueError):
                time.sleep(max(0.0, float(mode[5:])))
        return mode

    def after_insert(self, table: str, mode: str) -> None:
        """Apply the ``lost-response`` mode: the rows are stored, the caller hears a failure."""
        if mode == "lost-response":
            raise OperationalError(
                f"insert into {table}: connection reset before the answer (audit store drill: "
                f"{self.path})"
            )
