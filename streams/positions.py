"""Which input events a worker may decide: each partition's events in offset order, none
skipped.

Under exactly-once an input partition's committed offset moves to just past the last event a
transaction answers (:class:`~clearance.streams.app.Emitter`). That is only right if every
event below it was decided, so the deciding agents must see each partition's events without
a hole. Faust (faust-streaming 0.15) does not promise that around a rebalance:

- it resumes the input partitions before it seeks them to their committed offsets, and its
  consumer runs in its own thread, so events fetched from the position before the seek can
  reach the stream after it;
- its fetch loop drops any event below the last offset it handed to a stream
  (``Consumer._read_offset``), and an event in flight when the seek lands sets that mark
  past the events the seek is about to fetch again;
- aiokafka's ``seek_to_committed`` does not seek a partition whose committed offset is
  missing or 0, which keeps the position from before the rebalance.

:class:`InputPositions` checks what reaches the agents instead. After each seek it knows
each partition's next offset (the committed one) and admits only that offset, then the one
after it. An event below it is a copy of one already decided (acknowledged and left out).
An event above it leaves a hole that is either real (records only a read-committed consumer
skips: transaction markers, aborted records) or a skip: a separate read-committed consumer
reads the first record at or after the expected offset to tell which. A real hole is
stepped over; on a skip the event is left out and the partition is sought back to the
expected offset, so the events in between come again. A later event can therefore never
commit an offset past one not decided.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from faust.types import TP, EventT

__all__ = ["InputPositions"]

log = logging.getLogger(__name__)

#: How long to wait for the first record when checking a hole.
_PROBE_TIMEOUT_S = 10.0
#: A partition sought back and still not delivering the expected event is sought again
#: after this long (the seek can be lost to a fetch in flight).
_RESEEK_AFTER_S = 2.0


class InputPositions:
    """The next offset to decide for each input partition this worker holds.

    ``None`` for a partition means its position is not known (no committed offset): the
    first record the partition holds is read to learn it. A partition without an entry has
    not been sought in this generation yet: its events are left out, since the seek to come
    fetches them again.
    """

    def __init__(self, app: Any, topics: Iterable[str] = ()) -> None:
        self.app = app
        self._next: dict[TP, int | None] = {}
        #: Checked holes, by partition: the expected offset, the first record at or after it
        #: (None: not read) and when that was read.
        self._first: dict[TP, tuple[int | None, int | None, float]] = {}
        self._sought_back: dict[TP, float] = {}
        #: Seek-backs waiting for the minimum interval since the last one, by partition.
        self._deferred: dict[TP, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._probe: AIOKafkaConsumer | None = None
        self._probe_lock = asyncio.Lock()
        self._consumer: Any = None
        #: Topics whose events go through :meth:`admit` (known at start, or learnt from the
        #: events).
        self.topics: set[str] = set(topics)
        #: How long to wait for the first record when checking a hole.
        self.probe_timeout_s = _PROBE_TIMEOUT_S
        self.holes_stepped = 0
        self.skips_refetched = 0

    # -- what Faust tells us -----------------------------------------------------------

    def install(self, consumer: Any) -> None:
        """Learn each seek to the committed offsets of ``consumer`` (Faust's), and turn off
        its fetch loop's drop of events below the last one handed out (this class drops
        copies instead, by offset). Called before the fetch loop first starts: the loop
        keeps the per-partition marks object it finds then."""
        if self._consumer is consumer:
            return
        self._consumer = consumer
        seek_to_committed = consumer.seek_to_committed

        async def seek_and_learn() -> Mapping[Any, int]:
            committed = await seek_to_committed()
            self.sought(committed)
            # aiokafka does not seek a partition without a committed offset (or at 0): it
            # keeps fetching from where it is, past any event fetched before this seek and
            # left out as not yet sought. Fetch such partitions from their start instead, as
            # a new group would (Faust's offset reset is "earliest").
            for tp, offset in committed.items():
                if not offset and tp.topic in self.topics:
                    await consumer.seek(tp, 0)
            return committed

        consumer.seek_to_committed = seek_and_learn
        consumer._read_offset = _ReadMark(self.topics, consumer._read_offset)
        log.info("input events are admitted in offset order from each partition's seek")

    def sought(self, committed: Mapping[Any, int | None]) -> None:
        """Record the offsets the consumer was sought to (``None`` or 0: position kept)."""
        for tp, offset in committed.items():
            key = TP(tp.topic, tp.partition)
            self._next[key] = offset if offset else None
            self._first.pop(key, None)
            self._sought_back.pop(key, None)
            if key in self._deferred:
                self._deferred.pop(key).cancel()

    def forget(self, tps: Iterable[Any] | None = None) -> None:
        """Drop what is known of ``tps`` (all when None): they were revoked."""
        if tps is None:
            self._next.clear()
            self._first.clear()
            self._sought_back.clear()
            for handle in self._deferred.values():
                handle.cancel()
            self._deferred.clear()
            return
        for tp in tps:
            key = TP(tp.topic, tp.partition)
            self._next.pop(key, None)
            self._first.pop(key, None)
            self._sought_back.pop(key, None)
            if key in self._deferred:
                self._deferred.pop(key).cancel()

    # -- what reaches the agents ---------------------------------------------------------

    async def admit(self, events: list[EventT]) -> list[EventT]:
        """The events of ``events`` that continue their partitions without a hole, in
        order; the others are acknowledged and left out."""
        admitted: list[EventT] = []
        topics = self.topics
        for event in events:
            message = event.message
            tp = message.tp
            offset = message.offset
            if tp.topic not in topics:
                topics.add(tp.topic)
            if tp in self._next:
                expected = self._next[tp]
                if expected is not None and offset == expected:
                    self._next[tp] = offset + 1
                    admitted.append(event)
                    continue
                if expected is not None and offset < expected:
                    event.ack()
                    continue
                if await self._continues(tp, expected, offset):
                    self._next[tp] = offset + 1
                    admitted.append(event)
                    continue
            event.ack()
        return admitted

    async def _continues(self, tp: TP, expected: int | None, offset: int) -> bool:
        """Whether ``offset`` is the first record of ``tp`` at or after ``expected``; if it
        is not, seek the partition back to the one that is."""
        now = time.monotonic()
        known = self._first.get(tp)
        if known is not None and known[0] == expected and _still_valid(known, offset, now):
            first = known[1]
        else:
            first = await self._first_record(tp, expected)
            self._first[tp] = (expected, first, now)
        if first == offset:
            self._first.pop(tp, None)
            if expected is not None:
                self.holes_stepped += 1
                log.info(
                    "%s[%d]: no record between offsets %d and %d to decide (transaction "
                    "markers or aborted records)",
                    tp.topic,
                    tp.partition,
                    expected,
                    offset,
                )
            return True
        # A skip: fetch again from the first record not decided. A failed or puzzling read
        # (the partition holds the event but the read did not see it): hold the events back
        # rather than step over anything, and fetch again from the expected offset (or, with
        # none known, from the event itself).
        skipped = first is not None and first < offset
        if first is not None and skipped:
            target = first
        else:
            target = expected if expected is not None else offset
        # Every event left out here must come again, or it would wait for the next event of
        # its partition, however long that takes: a seek-back too soon after the last one is
        # deferred, not dropped.
        last = self._sought_back.get(tp)
        wait = 0.0 if last is None else _RESEEK_AFTER_S - (now - last)
        if wait > 0:
            self._seek_later(tp, target, wait)
        else:
            await self._seek_back(tp, target, offset, skipped)
        return False

    async def _seek_back(self, tp: TP, target: int, offset: int, skipped: bool) -> None:
        self._sought_back[tp] = time.monotonic()
        self.skips_refetched += 1
        if skipped:
            log.warning(
                "%s[%d]: event at offset %d arrived before the one at %d; fetching again from %d",
                tp.topic,
                tp.partition,
                offset,
                target,
                target,
            )
        else:
            log.warning(
                "%s[%d]: could not read the records from offset %d; event at %d held back, "
                "fetching again from %d",
                tp.topic,
                tp.partition,
                target,
                offset,
                target,
            )
        await self._consumer.seek(tp, target)

    def _seek_later(self, tp: TP, target: int, wait: float) -> None:
        """Seek ``tp`` back to ``target`` in ``wait`` seconds, unless the partition has moved
        past it by then (the events came again) or was revoked; once per partition."""
        if tp in self._deferred:
            return

        async def seek() -> None:
            self._deferred.pop(tp, None)
            if tp not in self._next:
                return
            expected = self._next[tp]
            if expected is not None and expected > target:
                return
            await self._seek_back(tp, target if expected is None else expected, target, False)

        def fire() -> None:
            task = asyncio.ensure_future(seek())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._deferred[tp] = asyncio.get_running_loop().call_later(wait, fire)

    async def _first_record(self, tp: TP, offset: int | None) -> int | None:
        """The offset of the first record a read-committed consumer gets from ``tp`` at
        ``offset`` (the partition's start when None)."""
        async with self._probe_lock:
            probe = await self._probe_consumer()
            ktp = TopicPartition(tp.topic, tp.partition)
            probe.assign([ktp])
            if offset is None:
                await probe.seek_to_beginning(ktp)
            else:
                probe.seek(ktp, offset)
            records = await probe.getmany(
                ktp, timeout_ms=int(self.probe_timeout_s * 1000), max_records=1
            )
            got = records.get(ktp)
            return got[0].offset if got else None

    async def _probe_consumer(self) -> AIOKafkaConsumer:
        if self._probe is None:
            servers = [f"{url.host}:{url.port or 9092}" for url in self.app.conf.broker]
            probe = AIOKafkaConsumer(
                bootstrap_servers=servers,
                group_id=None,
                enable_auto_commit=False,
                isolation_level="read_committed",
                auto_offset_reset="earliest",
            )
            await probe.start()
            self._probe = probe
        return self._probe

    async def close(self) -> None:
        self.forget()
        if self._probe is not None:
            probe, self._probe = self._probe, None
            await probe.stop()


def _still_valid(known: tuple[int | None, int | None, float], offset: int, now: float) -> bool:
    """Whether a checked hole still answers for an event at ``offset``: a record found before
    it always does (the partition is being fetched again from there); a failed or puzzling
    read only for a while, then it is read again."""
    first = known[1]
    if first is not None and first <= offset:
        return True
    return now - known[2] < _RESEEK_AFTER_S


class _ReadMark(dict):  # type: ignore[type-arg]
    """Faust's per-partition "last offset handed out" (``Consumer._read_offset``), empty
    for the partitions of ``topics``: its fetch loop then drops none of their events, and
    :class:`InputPositions` leaves out copies by offset. Other topics (table changelogs)
    keep Faust's behaviour."""

    def __init__(self, topics: set[str], marks: Mapping[Any, int | None]) -> None:
        super().__init__(marks)
        self._topics = topics

    def __getitem__(self, key: Any) -> int | None:
        if key.topic in self._topics:
            return None
        return self.get(key)
