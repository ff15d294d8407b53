"""InputPositions against a real broker: holes a read-committed consumer skips are stepped
over, events that arrive ahead of the ones before them are held back and fetched again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from faust.types import TP
from yarl import URL

from clearance.streams.positions import InputPositions

pytestmark = pytest.mark.integration


@dataclass
class _Message:
    tp: TP
    offset: int


@dataclass
class _Event:
    message: _Message
    acked: bool = False

    def ack(self) -> bool:
        self.acked = True
        return True


@dataclass
class _Consumer:
    """What InputPositions uses of Faust's consumer: the seek to the committed offsets it
    wraps, the per-partition read marks it replaces, and a seek it calls."""

    committed: dict[TP, int | None]
    seeks: list[tuple[TP, int]] = field(default_factory=list)
    _read_offset: dict[TP, int | None] = field(default_factory=dict)

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return self.committed

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


@pytest.fixture(scope="module")
def partition(kafka: Any) -> tuple[TP, int]:
    """A partition and the offset of its last record. It holds five records, a committed
    transaction of three (and its marker, at 8), an aborted transaction of two (9 and 10)
    and one more record: a read-committed consumer sees offsets 0-7 and then 11 or 12 (the
    abort marker lands before or after the last record)."""
    name = f"positions-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    plain = Producer({"bootstrap.servers": kafka.bootstrap})
    for i in range(5):
        plain.produce(name, value=b"plain %d" % i, partition=0)
    plain.flush(30)
    txn = Producer({"bootstrap.servers": kafka.bootstrap, "transactional.id": name})
    txn.init_transactions(30)
    txn.begin_transaction()
    for i in range(3):
        txn.produce(name, value=b"committed %d" % i, partition=0)
    txn.commit_transaction(30)
    txn.begin_transaction()
    for i in range(2):
        txn.produce(name, value=b"aborted %d" % i, partition=0)
    txn.flush(30)
    txn.abort_transaction(30)
    plain.produce(name, value=b"after", partition=0)
    plain.flush(30)
    reader = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": name,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    reader.assign([TopicPartition(name, 0, 0)])
    seen = [m.offset() or 0 for m in reader.consume(20, 10)]
    reader.close()
    assert seen[:8] == list(range(8)) and seen[8:] in ([11], [12]), seen
    return TP(name, 0), seen[8]


def _positions(kafka: Any, consumer: _Consumer, topics: tuple[str, ...] = ()) -> InputPositions:
    app = SimpleNamespace(conf=SimpleNamespace(broker=[URL(f"kafka://{kafka.bootstrap}")]))
    positions = InputPositions(app, topics)
    positions.install(consumer)
    return positions


@asynccontextmanager
async def _sought(
    kafka: Any, committed: dict[TP, int | None]
) -> AsyncIterator[tuple[_Consumer, InputPositions]]:
    """InputPositions on a consumer just sought to ``committed``."""
    consumer = _Consumer(committed)
    positions = _positions(kafka, consumer)
    await consumer.seek_to_committed()
    try:
        yield consumer, positions
    finally:
        await positions.close()


def _events(tp: TP, *offsets: int) -> list[_Event]:
    return [_Event(_Message(tp, offset)) for offset in offsets]


def _offsets(events: list[Any]) -> list[int]:
    return [event.message.offset for event in events]


def test_steps_over_transaction_markers_and_aborted_records(
    kafka: Any, partition: tuple[TP, int]
) -> None:
    topic, last = partition

    async def run() -> None:
        async with _sought(kafka, {topic: 3}) as (consumer, positions):
            events = _events(topic, 3, 4, 5, 6, 7, last)
            assert _offsets(await positions.admit(events)) == [3, 4, 5, 6, 7, last]
            assert positions.holes_stepped == 1 and not consumer.seeks

    asyncio.run(run())


def test_an_event_ahead_of_its_predecessors_waits_for_them(
    kafka: Any, partition: tuple[TP, int]
) -> None:
    topic = partition[0]

    async def run() -> None:
        async with _sought(kafka, {topic: 1}) as (consumer, positions):
            first = _events(topic, 1, 2, 4, 5)
            assert _offsets(await positions.admit(first)) == [1, 2]
            # 3 is missing: 4 and 5 are held back (acknowledged, not decided) and the partition
            # is fetched again from 3, once.
            assert [e.acked for e in first[2:]] == [True, True]
            assert consumer.seeks == [(topic, 3)]
            again = _events(topic, 6, 3, 4, 5, 6)
            assert _offsets(await positions.admit(again)) == [3, 4, 5, 6]
            assert consumer.seeks == [(topic, 3)] and positions.skips_refetched == 1

    asyncio.run(run())


@pytest.fixture(scope="module")
def open_transaction(kafka: Any) -> Iterator[TP]:
    """A partition with two plain records (0, 1) and then an open transaction (2, 3): a
    read-committed consumer reads nothing from offset 2 until the transaction ends."""
    name = f"positions-open-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    plain = Producer({"bootstrap.servers": kafka.bootstrap})
    for i in range(2):
        plain.produce(name, value=b"plain %d" % i, partition=0)
    plain.flush(30)
    txn = Producer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "transactional.id": name,
            "transaction.timeout.ms": 300_000,
        }
    )
    txn.init_transactions(30)
    txn.begin_transaction()
    for i in range(2):
        txn.produce(name, value=b"open %d" % i, partition=0)
    txn.flush(30)
    yield TP(name, 0)
    txn.abort_transaction(30)


def test_an_event_the_check_cannot_place_is_held_back_and_fetched_again(
    kafka: Any, open_transaction: TP
) -> None:
    topic = open_transaction

    async def run() -> None:
        # The check reads no record from the committed offset (here an open transaction
        # holds it back; a slow broker would do the same), so nothing is stepped over: the
        # event is held back and the partition fetched again from the committed offset, and
        # not again at once.
        async with _sought(kafka, {topic: 2}) as (consumer, positions):
            positions.probe_timeout_s = 1.0
            events = _events(topic, 3)
            assert _offsets(await positions.admit(events)) == []
            assert events[0].acked
            assert consumer.seeks == [(topic, 2)] and positions.holes_stepped == 0
            assert _offsets(await positions.admit(_events(topic, 3))) == []
            assert consumer.seeks == [(topic, 2)]
            # ... but later: with nothing else arriving, the event must still come again.
            await asyncio.sleep(2.5)
            assert consumer.seeks == [(topic, 2), (topic, 2)]
            assert _offsets(await positions.admit(_events(topic, 2, 3))) == [2, 3]
            # A seek-back that comes due after the events came again does nothing.
            assert _offsets(await positions.admit(_events(topic, 5))) == []
            assert _offsets(await positions.admit(_events(topic, 4, 5))) == [4, 5]
            await asyncio.sleep(2.5)
            assert consumer.seeks == [(topic, 2), (topic, 2)]

    asyncio.run(run())


def test_copies_below_the_committed_offset_are_left_out(
    kafka: Any, partition: tuple[TP, int]
) -> None:
    topic = partition[0]

    async def run() -> None:
        async with _sought(kafka, {topic: 5}) as (_, positions):
            events = _events(topic, 3, 4, 5, 6)
            assert _offsets(await positions.admit(events)) == [5, 6]
            assert events[0].acked and events[1].acked

    asyncio.run(run())


def test_without_a_committed_offset_the_partition_starts_at_its_first_record(
    kafka: Any, partition: tuple[TP, int]
) -> None:
    topic = partition[0]

    async def run() -> None:
        # aiokafka does not seek a partition whose committed offset is missing: events
        # from where it was fetching before can arrive first.
        async with _sought(kafka, {topic: None}) as (consumer, positions):
            assert _offsets(await positions.admit(_events(topic, 4, 5))) == []
            assert consumer.seeks == [(topic, 0)]
            assert _offsets(await positions.admit(_events(topic, 0, 1))) == [0, 1]

    asyncio.run(run())


def test_a_partition_without_a_committed_offset_is_fetched_from_its_start(
    kafka: Any, partition: tuple[TP, int]
) -> None:
    # An event fetched before the seek is left out as not yet sought; aiokafka does not seek
    # a partition without a committed offset (or at 0), so it would never come again.
    topic = partition[0]
    done = TP(f"{topic.topic}-decided", 0)

    async def run() -> None:
        consumer = _Consumer({topic: None, done: 7})
        positions = _positions(kafka, consumer, (topic.topic, done.topic))
        try:
            early = _events(topic, 0)
            assert _offsets(await positions.admit(early)) == [] and early[0].acked
            await consumer.seek_to_committed()
            assert consumer.seeks == [(topic, 0)]
            assert _offsets(await positions.admit(_events(topic, 0, 1))) == [0, 1]
            consumer.committed = {topic: 0}
            await consumer.seek_to_committed()
            assert consumer.seeks == [(topic, 0), (topic, 0)]
        finally:
            await positions.close()

    asyncio.run(run())


def test_a_partition_not_sought_since_the_rebalance_decides_nothing(
    kafka: Any, partition: tuple[TP, int]
) -> None:
    topic = partition[0]

    async def run() -> None:
        async with _sought(kafka, {topic: 0}) as (_, positions):
            positions.forget()
            events = _events(topic, 0, 1)
            assert _offsets(await positions.admit(events)) == []
            assert all(e.acked for e in events)

    asyncio.run(run())


def test_faust_keeps_no_read_mark_for_admitted_topics(
    kafka: Any, partition: tuple[TP, int]
) -> None:
    topic = partition[0]

    async def run() -> None:
        async with _sought(kafka, {topic: 0}) as (consumer, positions):
            other = TP("clearance-app-profiles-changelog", 0)
            consumer._read_offset[other] = 7
            consumer._read_offset[topic] = 7
            await positions.admit(_events(topic, 0))
            # Faust's fetch loop drops events below the mark; the admitted topic has none, the
            # changelog keeps its own.
            assert consumer._read_offset[topic] is None
            assert consumer._read_offset[other] == 7

    asyncio.run(run())
