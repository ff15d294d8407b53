"""Keyed state whose changelog is written in the transaction of the batch that changed it.

Faust's own table writes (``table[key] = value``, ``send_changelog``) go through a producer
buffer outside the batch's transaction: under exactly-once they could commit without the
offsets of the events that caused them (or be sent while the transaction is between commit
and begin), and a rebalance in between left Faust's recovery comparing a "persisted" offset
it never committed with the changelog's end. :class:`ChangelogState` keeps the Faust table
(its changelog topic, its recovery on assignment) but writes the changelog itself: every
change becomes a :class:`StateWrite` that the agent hands to the Emitter with the batch's
outputs, so state, outputs and offsets commit together or not at all.

Keys are strings; values are JSON data (``orjson``), stored as bytes in the table so that
what recovery reads back from the changelog is exactly what was written.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import faust
import orjson

__all__ = ["ChangelogState", "StateWrite"]


class StateWrite(NamedTuple):
    """One changelog record: the state of ``key`` in ``partition`` (``None`` deletes it)."""

    topic: str
    partition: int
    key: bytes
    value: bytes | None


class ChangelogState:
    """A changelog-backed Faust table written through :class:`StateWrite` records.

    Parameters
    ----------
    app
        The Faust app (the table is registered there, so Faust recovers it on assignment).
    name
        Table name; the changelog topic is ``{app id}-{name}-changelog``.
    partitions
        Partitions of the changelog: the same as the input topic whose keys it holds.
    """

    def __init__(self, app: faust.App, name: str, partitions: int) -> None:
        # bytes keys and values: Faust reads the changelog back with its "raw" codec.
        self.table = app.Table(name, partitions=partitions, key_type=bytes, value_type=bytes)
        self._writes: list[StateWrite] = []

    @property
    def topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    def get(self, key: str) -> Any | None:
        """The value last put for ``key`` (here or, after recovery, by the previous owner)."""
        raw = self.table.data.get(key.encode())
        return orjson.loads(raw) if raw is not None else None

    def put(self, partition: int, key: str, value: Any) -> None:
        """Set ``key``'s value; the write waits in :meth:`take` for the batch's transaction."""
        raw = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
        encoded = key.encode()
        self.table.data[encoded] = raw
        self._writes.append(StateWrite(self.topic, partition, encoded, raw))

    def delete(self, partition: int, key: str) -> None:
        """Remove ``key``; the tombstone waits in :meth:`take` like a write."""
        encoded = key.encode()
        self.table.data.pop(encoded, None)
        self._writes.append(StateWrite(self.topic, partition, encoded, None))

    def keys(self) -> list[str]:
        """Keys held for the partitions this worker owns."""
        return [key.decode() for key in self.table.data]

    def __len__(self) -> int:
        return len(self.table.data)

    def take(self) -> list[StateWrite]:
        """The writes since the last call, oldest first (for the Emitter)."""
        writes, self._writes = self._writes, []
        return writes
