"""What the fault tests share: input traffic, reading outputs as enforcement points do, counting
the audit store, and measuring a process's memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from clearance.schemas import Codec
from clearance.traffic import TrafficGenerator


def produce_events(bootstrap: str, topic: str, count: int, seed: int = 99) -> set[str]:
    """Publish ``count`` generated action events; return their event ids."""
    # Idempotent, so a retried produce cannot write an event twice into the input.
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "enable.idempotence": True,
            "message.timeout.ms": 300_000,
        }
    )
    codec = Codec("ActionEvent")
    ids = set()
    failures: list[str] = []

    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    for event in TrafficGenerator(seed=seed).events(count):
        ids.add(event["event_id"])
        while True:
            try:
                producer.produce(
                    topic,
                    key=event["principal"]["id"].encode(),
                    value=codec.encode(event),
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(300) == 0
    assert not failures, f"{len(failures)} events not published: {failures[:3]}"
    return ids


@dataclass
class TopicCopies:
    """Every committed message about each event id, as a read_committed consumer sees them."""

    #: event id -> [(partition, offset, source "p@offset"), ...]
    copies: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)

    def doubled(self) -> dict[str, list[tuple[int, int, str]]]:
        return {event_id: c for event_id, c in self.copies.items() if len(c) > 1}

    def describe_doubles(self, limit: int = 10) -> str:
        lines = [
            f"  {event_id}: " + ", ".join(f"out[{p}]@{o} from actions[{src}]" for p, o, src in c)
            for event_id, c in list(self.doubled().items())[:limit]
        ]
        return "\n".join(lines)

    def describe_lost(self, inputs: TopicCopies, limit: int = 10) -> str:
        """Where each event without a decision sat on the input topic, and what was decided
        around it on the same input partition."""
        by_source: dict[tuple[int, int], str] = {}
        for copies in self.copies.values():
            for _, _, src in copies:
                where = src.split(" ", 1)[0]
                partition, _, offset = where.partition("@")
                if partition.isdigit() and offset.isdigit():
                    by_source[(int(partition), int(offset))] = src
        lines = []
        for event_id in sorted(set(inputs.copies) - set(self.copies))[:limit]:
            for partition, offset, _ in inputs.copies[event_id]:
                before = by_source.get((partition, offset - 1), "none")
                after = by_source.get((partition, offset + 1), "none")
                lines.append(
                    f"  {event_id}: actions[{partition}]@{offset}; "
                    f"decided before it: {before}; after it: {after}"
                )
        return "\n".join(lines)


def read_committed(
    bootstrap: str, topic: str, expected: int, timeout: float, codec: str = "Decision"
) -> TopicCopies:
    """Read ``topic`` from the start read_committed until ``expected`` ids are seen and it is
    quiet for 5 s (late duplicates would show then), or ``timeout``."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"fault-reader-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    decoder = Codec(codec)
    copies: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    deadline = time.monotonic() + timeout
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(5000, 1.0)
            for message in batch:
                if message.error() is not None:
                    continue
                record = decoder.decode(message.value())
                source = (
                    f"{record.get('source_partition')}@{record.get('source_offset')}"
                    f" decided_at={record.get('decided_at')}"
                )
                copies[record["event_id"]].append((message.partition(), message.offset(), source))
            if len(copies) >= expected:
                if batch:
                    quiet_until = time.monotonic() + 5
                quiet_until = quiet_until or time.monotonic() + 5
                if time.monotonic() > quiet_until:
                    break
    finally:
        consumer.close()
    return TopicCopies(dict(copies))


def count_messages(bootstrap: str, topic: str) -> int:
    """Messages on ``topic`` (end minus start offsets; transaction markers included)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fault-counter"})
    try:
        metadata = consumer.list_topics(topic, timeout=30)
        total = 0
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 30)
            total += high - low
        return total
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The offsets ``group`` has committed on ``topic`` (-1001 when none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def audit_query(env: dict[str, str], sql: str) -> list[dict[str, Any]]:
    """Run read-only SQL through `clearance audit query` (the worker's endpoint or the store)."""
    result = subprocess.run(
        [sys.executable, "-m", "clearance.cli", "audit", "query", "--format", "json", sql],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


@dataclass(frozen=True)
class AuditCounts:
    rows: int  # rows as stored (before ReplacingMergeTree collapses redeliveries)
    rows_final: int  # rows as analysts count them (FINAL)
    events: int  # distinct event ids with a row
    doubled: int  # event ids with more than one row in FINAL


def audit_counts(env: dict[str, str]) -> AuditCounts:
    """Counts of the decisions about action events (the store holds only this test's)."""
    raw = audit_query(env, "SELECT count() AS n FROM clearance.decisions")
    final = audit_query(
        env,
        "SELECT count() AS events, sum(n) AS rows, countIf(n > 1) AS doubled FROM "
        "(SELECT event_id, count() AS n FROM clearance.decisions FINAL "
        "WHERE event_kind = 'action' GROUP BY event_id)",
    )[0]
    return AuditCounts(
        rows=int(raw[0]["n"]),
        rows_final=int(final["rows"]),
        events=int(final["events"]),
        doubled=int(final["doubled"]),
    )


def wait_for_audit_rows(env: dict[str, str], count: int, timeout: float) -> int:
    """Poll the audit store until it holds ``count`` decisions (FINAL); return the last count."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        rows = audit_query(env, "SELECT count() AS n FROM clearance.decisions FINAL")
        seen = int(rows[0]["n"])
        if seen >= count:
            return seen
        time.sleep(2)
    return seen


def report(fault: str, ids: set[str], topic: TopicCopies, audit: AuditCounts | None) -> str:
    """The counts line every fault test prints, and what it asserts on."""
    lost_topic = len(ids - set(topic.copies))
    doubled_topic = len(topic.doubled())
    line = (
        f"\n[{fault}] events={len(ids)} decisions_on_topic={sum(map(len, topic.copies.values()))}"
        f" distinct_on_topic={len(topic.copies)} lost_on_topic={lost_topic}"
        f" doubled_on_topic={doubled_topic}"
    )
    if audit is not None:
        line += (
            f" clickhouse_rows={audit.rows} clickhouse_rows_final={audit.rows_final}"
            f" lost_in_clickhouse={len(ids) - audit.events}"
            f" doubled_in_clickhouse={audit.doubled}"
        )
    print(line)
    return line


def wait_for_decisions(bootstrap: str, topic: str, count: int, timeout: float) -> int:
    """Block until ``count`` messages (read_uncommitted) are on ``topic``; return how many."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"peek-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
        }
    )
    reader.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < count and time.monotonic() < deadline:
            seen += sum(1 for m in reader.consume(1000, 0.5) if m.error() is None)
    finally:
        reader.close()
    return seen


def sigkill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of ``pid`` in KiB, from /proc."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread: ``(seconds, KiB)``."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        import threading

        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                rss, _ = rss_kib(self.pid)
            except (OSError, KeyError):
                return
            self.samples.append((time.monotonic() - self._started, rss))

    def mib(self, since: float = 0.0, until: float = float("inf")) -> list[float]:
        return [kib / 1024 for t, kib in self.samples if since <= t < until]

    def timeline(self, every: float = 10.0) -> str:
        """RSS in MiB at about every ``every`` seconds, for the printed report."""
        shown, next_t = [], 0.0
        for t, kib in self.samples:
            if t >= next_t:
                shown.append(f"{t:.0f}s:{kib / 1024:.0f}")
                next_t = t + every
        return " ".join(shown)


class CommitWatcher:
    """Polls a group's committed offsets in a thread and records every move backwards.

    An input offset that goes back behind decisions already committed makes the next owner of
    the partition decide those events again: the watcher shows such moves directly.
    """

    def __init__(self, bootstrap: str, group: str, topic: str, partitions: int) -> None:
        import threading

        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        self._tps = [TopicPartition(topic, p) for p in range(partitions)]
        self.polls = 0
        #: (seconds since start, partition, from offset, to offset)
        self.backwards: list[tuple[float, int, int, int]] = []
        self._last: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CommitWatcher:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                committed = self._consumer.committed(self._tps, timeout=5)
            except KafkaException:  # a slow answer is skipped; the next poll counts
                continue
            self.polls += 1
            for tp in committed:
                last = self._last.get(tp.partition, -1)
                if 0 <= tp.offset < last:
                    self.backwards.append(
                        (time.monotonic() - self._started, tp.partition, last, tp.offset)
                    )
                if tp.offset >= 0:
                    self._last[tp.partition] = tp.offset


def wait_for_topic(bootstrap: str, topic: str, timeout: float = 120) -> None:
    """Block until ``topic`` exists (the worker creates Clearance's topics at start)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while topic not in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"{topic} was not created in {timeout} s"
        time.sleep(0.5)


def wait_for_group(bootstrap: str, group: str, members: int, timeout: float = 300) -> None:
    """Wait until consumer ``group`` is stable with ``members`` members (workers start slowly
    on a loaded machine; a fixed sleep would produce before they joined)."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    seen = "not described yet"
    while time.monotonic() < deadline:
        try:
            described = admin.describe_consumer_groups([group])[group].result(timeout=10)
        except (KafkaException, TimeoutError) as exc:  # not described yet, or a slow answer
            seen = repr(exc)
        else:
            seen = f"{described.state} with {len(described.members)} members"
            if described.state == ConsumerGroupState.STABLE and len(described.members) == members:
                return
        time.sleep(1)
    raise AssertionError(f"group {group} not stable with {members} members in {timeout} s: {seen}")
