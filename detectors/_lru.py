"""Bounded least-recently-used counters kept in plain dicts (JSON objects keep their order)."""

from typing import TypeVar

V = TypeVar("V")


def touch_count(counts: dict[str, int], key: str, cap: int) -> None:
    """Add one to ``counts[key]``, make it the most recent, evict the least recent past ``cap``."""
    counts[key] = counts.pop(key, 0) + 1
    while len(counts) > cap:
        del counts[next(iter(counts))]


def touch(entries: dict[str, V], key: str, value: V, cap: int) -> None:
    """Store ``entries[key] = value`` as the most recent, evicting the least recent past ``cap``."""
    entries.pop(key, None)
    entries[key] = value
    while len(entries) > cap:
        del entries[next(iter(entries))]
