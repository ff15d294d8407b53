"""The benchmark's input: seeded demo traffic, encoded once, produced fast or at a fixed rate."""

from __future__ import annotations

import gc
import multiprocessing
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, Producer

from clearance.schemas import Codec
from clearance.traffic import TrafficGenerator

from ._errors import BenchError

__all__ = ["EncodedEvents", "PacedProducer", "encode_events", "partition_for", "preproduce"]

PARTITIONS = 4  # the default CLEARANCE_TOPIC_PARTITIONS


def partition_for(key: bytes, partitions: int = PARTITIONS) -> int:
    """The input partition Kafka puts a keyed action on: Clearance's producers use
    confluent-kafka's default partitioner (librdkafka's ``consistent_random``), which takes
    the CRC-32 of the key modulo the partition count, so each principal stays on one partition.
    """
    return zlib.crc32(key) % partitions


@dataclass(frozen=True)
class EncodedEvents:
    """Events as they go on the wire: key (principal id) and Avro single-object value."""

    messages: list[tuple[bytes, bytes]]
    event_ids: frozenset[str]


def encode_events(count: int, seed: int) -> EncodedEvents:
    """``count`` seeded demo events, Avro single-object encoded and keyed by principal id."""
    codec = Codec("ActionEvent")
    messages = []
    ids = set()
    for event in TrafficGenerator(seed=seed).events(count):
        messages.append((event["principal"]["id"].encode(), codec.encode(event)))
        ids.add(event["event_id"])
    # Long-lived for the whole run: out of the garbage collector's full passes, whose pauses
    # would otherwise land in the middle of a measurement.
    gc.freeze()
    return EncodedEvents(messages, frozenset(ids))


def _producer(bootstrap: str, **extra: Any) -> Producer:
    return Producer(
        {"bootstrap.servers": bootstrap, "compression.type": "none", "acks": "all", **extra}
    )


def preproduce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    """Write ``messages`` to ``topic`` as fast as the broker takes them; returns the seconds."""
    producer = _producer(
        bootstrap,
        **{
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
        },
    )
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    started = time.perf_counter()
    produce = producer.produce
    for key, value in messages:
        while True:
            try:
                produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(120)
    if left or failures:
        raise BenchError(
            f"pre-producing to {topic} failed: {left} messages undelivered, "
            f"{len(failures)} errors (first: {failures[:1]}). Fix: check the broker's log"
        )
    return time.perf_counter() - started


@dataclass
class PacedProducer:
    """Offers events at ``rate`` per second for ``seconds``, from a process of its own.

    Each event gets ``occurred_at`` = the wall-clock millisecond it is handed to the producer,
    so a consumer on the same host can compute event-to-decision latency from the decision
    alone. ``linger.ms`` is 0: the publisher adds no batching delay of its own. The sending
    loop runs in a separate process: beside the reader's thread in one interpreter, the two
    took turns on the GIL, and the reader fell hundreds of milliseconds behind at 5,000
    events/s with no worker in the path at all.
    """

    bootstrap: str
    topic: str
    rate: int
    seconds: float
    seed: int
    sent_ids: list[str] = field(default_factory=list)
    error: str | None = None
    behind_ms: float = 0.0
    #: Wall-clock seconds when the last event was handed to the producer.
    finished_at: float = 0.0
    _process: Any = None
    _results: Any = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        self._results = receiver
        self._process = context.Process(
            target=_paced_send,
            args=(sender, self.bootstrap, self.topic, self.rate, self.seconds, self.seed),
            name=f"paced-{self.rate}",
            daemon=True,
        )
        self._process.start()
        sender.close()

    def join(self) -> None:
        if self._process is None:
            return
        try:
            result = self._results.recv()
        except EOFError:
            self._process.join()
            result = {"error": f"the publisher process exited with {self._process.exitcode}"}
        self._process.join()
        self._results.close()
        self._process = None
        self.sent_ids = result.get("sent_ids", [])
        self.behind_ms = result.get("behind_ms", 0.0)
        self.finished_at = result.get("finished_at", 0.0)
        self.error = result.get("error")
        if self.error is not None:
            raise BenchError(f"the paced producer at {self.rate}/s failed: {self.error}")


def _paced_send(
    results: Any, bootstrap: str, topic: str, rate: int, seconds: float, seed: int
) -> None:
    """The publisher process: send, then report what was sent through ``results``."""
    sent_ids: list[str] = []
    report: dict[str, Any] = {"sent_ids": sent_ids}
    try:
        # Generated before the clock starts, so the sending loop only stamps and encodes.
        events = list(TrafficGenerator(seed=seed).events(int(rate * seconds)))
        gc.freeze()  # as in encode_events: no collector pass over them while sending
        producer = _producer(bootstrap, **{"linger.ms": 0})
        codec = Codec("ActionEvent")
        behind_ms = 0.0
        started = time.perf_counter()
        sent = 0
        while sent < len(events):
            elapsed = time.perf_counter() - started
            # How far behind its schedule the loop woke up: a publisher that cannot keep up
            # would understate the offered load.
            behind_ms = max(behind_ms, (elapsed - sent / rate) * 1000)
            due = min(len(events), int(elapsed * rate) + 1)
            while sent < due:
                event = events[sent]
                event["occurred_at"] = int(time.time() * 1000)
                producer.produce(topic, codec.encode(event), event["principal"]["id"])
                sent_ids.append(event["event_id"])
                sent += 1
            producer.poll(0)
            time.sleep(0.001)
        report.update(behind_ms=behind_ms, finished_at=time.time())
        if producer.flush(30):
            report["error"] = f"could not deliver everything to {topic}"
    except (KafkaException, BufferError, OSError) as exc:
        report["error"] = str(exc)
    results.send(report)
    results.close()
