"""AuditSink with real chDB and a stand-in Kafka consumer: commit only after the store took it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clearance.audit import (
    AuditSink,
    AuditSinkError,
    connect,
    count_dead_letters,
    count_decisions,
    duplicate_decision_ids,
    migrate,
)
from clearance.schemas.codec import Codec

DecisionFactory = Callable[..., dict[str, Any]]
DECISIONS = "t.decisions"
LETTERS = "t.dead-letter"


class JsonCodec:
    def decode(self, data: bytes) -> dict[str, Any]:
        record = json.loads(data)
        if not isinstance(record, dict):
            raise ValueError("not a record")
        return record


class Msg:
    def __init__(
        self, topic: str, partition: int, offset: int, value: bytes, error: KafkaError | None = None
    ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value = value
        self._error = error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"key"

    def value(self) -> bytes:
        return self._value

    def error(self) -> KafkaError | None:
        return self._error


class FakeConsumer:
    """Serves queued messages from two partitions, honours pause, records commits."""

    def __init__(
        self, messages: list[Msg], on_commit: Callable[[list[TopicPartition]], None]
    ) -> None:
        self.queue = list(messages)
        self.on_commit = on_commit
        self.config: dict[str, Any] = {}
        self.subscribed: list[str] = []
        self.paused: set[tuple[str, int]] = set()
        self.pause_calls = 0
        self.resume_calls = 0
        self.commits: list[list[tuple[str, int, int]]] = []
        self.closed = False

    def subscribe(self, topics: list[str]) -> None:
        self.subscribed = topics

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t in (DECISIONS, LETTERS) for p in (0, 1)]

    def _take(self, limit: int) -> list[Msg]:
        taken = [m for m in self.queue if (m.topic(), m.partition()) not in self.paused][:limit]
        for m in taken:
            self.queue.remove(m)
        return taken

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        taken = self._take(num_messages)
        if not taken:
            time.sleep(min(timeout, 0.01))
        return taken

    def poll(self, timeout: float) -> Msg | None:
        taken = self._take(1)
        if not taken:
            time.sleep(min(timeout, 0.01))
        return taken[0] if taken else None

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.pause_calls += 1
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.resume_calls += 1
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        assert asynchronous is False
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        self.on_commit(offsets)
        return offsets

    def close(self) -> None:
        self.closed = True


class FlakyClient:
    """A real client whose first ``failures`` inserts fail as a network outage would."""

    def __init__(self, client: Client, failures: int) -> None:
        self._client = client
        self.failures = failures

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("connection refused (simulated outage)")
        return self._client.insert(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _decision_messages(make_decision: DecisionFactory, count: int) -> list[Msg]:
    return [
        Msg(DECISIONS, n % 2, n // 2, json.dumps(make_decision(n)).encode()) for n in range(count)
    ]


def _sink(client: Any, consumer: FakeConsumer, stop: threading.Event, **kwargs: Any) -> AuditSink:
    def factory(config: dict[str, Any]) -> FakeConsumer:
        consumer.config = config
        return consumer

    options: dict[str, Any] = {
        "bootstrap": "localhost:9092",
        "topic_prefix": "t.",
        "client": client,
        "batch_max_rows": 4,
        "batch_max_wait_ms": 20,
        "retry_initial_s": 0.01,
        "retry_max_s": 0.04,
        "stop_event": stop,
        "decision_codec": JsonCodec(),
        "dead_letter_codec": JsonCodec(),
        "consumer_factory": factory,
    }
    options.update(kwargs)
    return AuditSink(**options)


def _stop_when_drained(consumer: FakeConsumer, stop: threading.Event) -> Callable[..., None]:
    def check(_: list[TopicPartition]) -> None:
        if not consumer.queue:
            stop.set()

    return check


def test_the_consumer_is_configured_for_at_least_once(client: Client) -> None:
    stop = threading.Event()
    stop.set()
    consumer = FakeConsumer([], lambda _: None)
    _sink(client, consumer, stop, group_id="audit-g").run()
    assert consumer.subscribed == [DECISIONS, LETTERS]
    assert consumer.config["group.id"] == "audit-g"
    assert consumer.config["enable.auto.commit"] is False
    assert consumer.config["isolation.level"] == "read_committed"
    assert consumer.config["auto.offset.reset"] == "earliest"
    assert consumer.closed


def test_offsets_are_committed_only_after_the_rows_are_stored(
    client: Client, make_decision: DecisionFactory
) -> None:
    stop = threading.Event()
    stored_at_commit: list[int] = []
    messages = _decision_messages(make_decision, 10)
    consumer = FakeConsumer(messages, lambda _: None)

    def on_commit(offsets: list[TopicPartition]) -> None:
        stored_at_commit.append(count_decisions(client, exact=False))
        _stop_when_drained(consumer, stop)(offsets)

    consumer.on_commit = on_commit
    sink = _sink(client, consumer, stop)
    sink.run()
    assert count_decisions(client) == 10
    # every commit came after its batch was in the store: 4, 8, then 10 rows
    assert stored_at_commit == [4, 8, 10]
    assert consumer.commits[-1] == [(DECISIONS, 0, 5), (DECISIONS, 1, 5)]
    status = sink.status()
    assert (status.decisions_written, status.batches, status.failures) == (10, 3, 0)
    assert status.last_commit_offsets == {f"{DECISIONS}[0]": 5, f"{DECISIONS}[1]": 5}
    assert status.as_dict()["rows_written"] == 10
    assert status.as_dict()["last_commit_offsets"] == status.last_commit_offsets


def test_undecodable_messages_are_recorded_and_committed(
    client: Client, make_decision: DecisionFactory
) -> None:
    stop = threading.Event()
    messages = [
        Msg(DECISIONS, 0, 0, json.dumps(make_decision(0)).encode()),
        Msg(DECISIONS, 0, 1, b"\xff not json"),
        Msg(LETTERS, 1, 0, b"[]"),
    ]
    consumer = FakeConsumer(messages, lambda _: None)
    consumer.on_commit = _stop_when_drained(consumer, stop)
    sink = _sink(client, consumer, stop)
    sink.run()
    assert count_decisions(client) == 1
    assert count_dead_letters(client) == 2
    assert sorted(consumer.commits[-1]) == [(LETTERS, 1, 1), (DECISIONS, 0, 2)]
    assert sink.status().undecodable == 2


def test_a_store_outage_pauses_retries_and_commits_after_recovery(
    client: Client, make_decision: DecisionFactory
) -> None:
    stop = threading.Event()
    consumer = FakeConsumer(_decision_messages(make_decision, 3), lambda _: None)
    flaky = FlakyClient(client, failures=3)
    commits_seen_during_outage: list[int] = []

    def on_commit(offsets: list[TopicPartition]) -> None:
        commits_seen_during_outage.append(flaky.failures)
        _stop_when_drained(consumer, stop)(offsets)

    consumer.on_commit = on_commit
    sink = _sink(flaky, consumer, stop)
    sink.run()
    assert count_decisions(client) == 3
    assert commits_seen_during_outage == [0]  # no commit while inserts failed
    assert consumer.pause_calls >= 1 and consumer.resume_calls == 1
    status = sink.status()
    assert status.failures == 3
    assert status.last_error is not None and "simulated outage" in status.last_error


def test_a_stop_during_an_outage_leaves_offsets_uncommitted(
    client: Client, make_decision: DecisionFactory
) -> None:
    stop = threading.Event()
    consumer = FakeConsumer(_decision_messages(make_decision, 2), lambda _: None)
    flaky = FlakyClient(client, failures=10**6)
    sink = _sink(flaky, consumer, stop, retry_initial_s=0.05, retry_max_s=0.05)
    thread = sink.start_thread()
    deadline = time.monotonic() + 10
    while sink.status().failures < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert sink.error is None
    assert consumer.commits == []
    assert count_decisions(client, exact=False) == 0
    assert consumer.closed


def test_a_fatal_store_error_stops_the_sink_without_committing(
    store_dsn: str, make_decision: DecisionFactory
) -> None:
    unmigrated = connect(store_dsn)
    try:
        stop = threading.Event()
        consumer = FakeConsumer(_decision_messages(make_decision, 2), lambda _: None)
        sink = _sink(unmigrated, consumer, stop, migrate_store=False)
        with pytest.raises(AuditSinkError, match="audit sink stops: could not insert 2 rows"):
            sink.run()
    finally:
        unmigrated.close()
    assert consumer.commits == []
    assert sink.status().failures == 1
    assert not sink.status().running


def test_a_fatal_kafka_error_stops_the_sink(client: Client) -> None:
    stop = threading.Event()
    fatal = KafkaError(KafkaError._FATAL, "producer fenced", fatal=True)
    consumer = FakeConsumer([Msg(DECISIONS, 0, 0, b"", error=fatal)], lambda _: None)
    with pytest.raises(AuditSinkError, match="fatal Kafka error: producer fenced"):
        _sink(client, consumer, stop).run()


def test_partition_eof_events_are_not_messages(
    client: Client, make_decision: DecisionFactory
) -> None:
    stop = threading.Event()
    eof = KafkaError(KafkaError._PARTITION_EOF)
    messages = [Msg(DECISIONS, 0, 5, b"", error=eof), *_decision_messages(make_decision, 1)]
    consumer = FakeConsumer(messages, lambda _: None)
    consumer.on_commit = _stop_when_drained(consumer, stop)
    _sink(client, consumer, stop).run()
    assert count_decisions(client) == 1
    assert count_dead_letters(client) == 0


def test_the_sink_opens_and_migrates_a_store_from_its_dsn(
    store_dsn: str, make_decision: DecisionFactory
) -> None:
    stop = threading.Event()
    consumer = FakeConsumer(_decision_messages(make_decision, 2), lambda _: None)
    consumer.on_commit = _stop_when_drained(consumer, stop)
    _sink(None, consumer, stop, dsn=store_dsn).run()
    reopened = connect(store_dsn)
    try:
        assert count_decisions(reopened) == 2
    finally:
        reopened.close()


def test_a_sink_needs_a_store() -> None:
    with pytest.raises(ValueError, match="client or a dsn"):
        AuditSink(bootstrap="b")


def test_the_default_codecs_read_avro_decisions_and_dead_letters(
    client: Client, make_decision: DecisionFactory
) -> None:
    decisions = Codec("Decision")
    letters = Codec("DeadLetter")
    letter = {
        "dead_letter_id": "clearance.actions[0]@9",
        "failed_at": 1_767_225_600_000,
        "reason_code": "missing_field",
        "reason": "principal.id is missing",
        "source_topic": "clearance.actions",
        "source_partition": 0,
        "source_offset": 9,
        "key": b"agent-7",
        "value": b'{"principal": {}}',
        "value_size": 17,
    }
    messages = [
        Msg(DECISIONS, 0, 0, decisions.encode(make_decision(0))),
        Msg(DECISIONS, 0, 1, decisions.encode(make_decision(1), fmt="json")),
        Msg(DECISIONS, 1, 0, letters.encode(letter)),  # a dead letter on the wrong topic
        Msg(LETTERS, 0, 0, letters.encode(letter)),
        Msg(DECISIONS, 1, 1, decisions.encode(make_decision(2, reasons=["x" * 3000]))),
    ]
    stop = threading.Event()
    consumer = FakeConsumer(messages, lambda _: None)
    consumer.on_commit = _stop_when_drained(consumer, stop)
    _sink(
        client,
        consumer,
        stop,
        decision_codec=None,
        dead_letter_codec=None,
        max_message_bytes=2048,
    ).run()
    assert count_decisions(client) == 2
    rows = client.query(
        "SELECT reason_code, source_topic, key, letter_topic FROM clearance.dead_letters FINAL "
        "ORDER BY letter_topic, reason_code"
    ).result_rows
    assert [tuple(row) for row in rows] == [
        ("missing_field", "clearance.actions", "agent-7", LETTERS),
        ("oversized", DECISIONS, "key", DECISIONS),
        ("schema_mismatch", DECISIONS, "key", DECISIONS),
    ]


def _produce_to_real_kafka(bootstrap: str, prefix: str, decisions: list[dict[str, Any]]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic(f"{prefix}decisions", 2, 1), NewTopic(f"{prefix}dead-letter", 1, 1)]
    for future in admin.create_topics(topics).values():
        future.result(timeout=60)
    codec = Codec("Decision")
    producer = Producer({"bootstrap.servers": bootstrap})
    for decision in decisions:
        producer.produce(
            f"{prefix}decisions", key=decision["principal"]["id"], value=codec.encode(decision)
        )
    producer.produce(f"{prefix}decisions", key=b"k", value=b"\x00\x00\x00\x00\x01registry")
    assert producer.flush(30) == 0


def _run_until(sink: AuditSink, rows: int, timeout_s: float = 120) -> None:
    thread = sink.start_thread()
    deadline = time.monotonic() + timeout_s
    while sink.status().rows_written < rows and time.monotonic() < deadline:
        if not thread.is_alive():
            break
        time.sleep(0.05)
    sink.stop_event.set()
    thread.join(timeout=60)
    assert sink.error is None, sink.error


@pytest.mark.integration
def test_a_real_broker_round_trip_commits_and_redeliveries_collapse(
    kafka: Any, store_dsn: str, make_decision: DecisionFactory
) -> None:
    prefix = f"audit-{uuid.uuid4().hex[:8]}."
    _produce_to_real_kafka(kafka.bootstrap, prefix, [make_decision(n) for n in range(500)])
    store = connect(store_dsn)
    try:
        migrate(store)
        for table in ("decisions", "dead_letters"):
            # raw counts below must not depend on when a background merge runs
            store.command(f"SYSTEM STOP MERGES clearance.{table}")
        first = AuditSink(bootstrap=kafka.bootstrap, topic_prefix=prefix, client=store)
        _run_until(first, 501)
        assert count_decisions(store) == 500
        assert count_dead_letters(store) == 1
        consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "clearance-audit"})
        committed = consumer.committed(
            [TopicPartition(f"{prefix}decisions", p) for p in (0, 1)], timeout=30
        )
        consumer.close()
        assert sum(tp.offset for tp in committed) == 501

        # another group reads everything again in other batches (other dedup tokens):
        # stored twice, counted once
        again = AuditSink(
            bootstrap=kafka.bootstrap,
            topic_prefix=prefix,
            client=store,
            group_id="audit-replay",
            batch_max_rows=100,
        )
        _run_until(again, 501)
        assert count_decisions(store, exact=False) == 1000
        assert count_decisions(store) == 500
        assert duplicate_decision_ids(store) == 500
        assert count_dead_letters(store, exact=False) == 2
        assert count_dead_letters(store) == 1
    finally:
        store.close()
