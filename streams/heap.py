"""Keeping the worker's long-lived state out of the garbage collector's full collections.

A full collection walks every object the collector tracks. Most of a started worker's objects
live as long as it does: the compiled policy, the access model, recovered tables, the modules.
Each batch promotes some short-lived objects (its assessments live through the batch) to the
oldest generation, so full collections keep coming, and each walked all of that state again.
:func:`freeze_heap` moves what is alive at start to the collector's permanent generation, which
full collections skip.

The trade-off: the collector never looks at frozen objects again. One that later becomes
garbage is still freed when its last reference goes, but one caught in a reference cycle stays
in memory for good. That is fine for what is frozen: the state the worker keeps for its
lifetime, taken right after a collection.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import NamedTuple

__all__ = ["FrozenHeap", "freeze_heap"]

log = logging.getLogger(__name__)


class FrozenHeap(NamedTuple):
    """What :func:`freeze_heap` did."""

    objects: int
    """Objects moved to the permanent generation by this call."""
    seconds: float
    """Wall time of the collection and the freeze."""


def freeze_heap() -> FrozenHeap:
    """Collect garbage, then freeze every object left (:func:`gc.freeze`), and log how many.

    Call it once the long-lived state is built (for the worker: after its tables recovered).
    """
    started = time.perf_counter()
    before = gc.get_freeze_count()
    # Collect first: garbage frozen now would never be freed.
    gc.collect()
    gc.freeze()
    frozen = FrozenHeap(gc.get_freeze_count() - before, time.perf_counter() - started)
    log.info(
        "froze %d long-lived objects in %.0f ms; full collections skip them from now on",
        frozen.objects,
        frozen.seconds * 1000,
    )
    return frozen
