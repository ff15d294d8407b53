"""The benchmark's input: seeded demo traffic, encoded once, produced fast or at a fixed rate."""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, Producer

from clearance.schemas import Codec
from clearance.traffic import TrafficGenerator

from ._errors import BenchError

__all__ = ["EncodedEvents", "PacedProducer", "encode_events", "preproduce"]


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
    """Offers events at ``rate`` per second for ``seconds``, in a thread.

    Each event gets ``occurred_at`` = the wall-clock millisecond it is handed to the producer,
    so a consumer on the same host can compute event-to-decision latency from the decision
    alone. ``linger.ms`` is 0: the publisher adds no batching delay of its own.
    """

    bootstrap: str
    topic: str
    rate: int
    seconds: float
    seed: int
    sent_ids: list[str] = field(default_factory=list)
    error: BaseException | None = None
    behind_ms: float = 0.0
    #: Wall-clock seconds when the last event was handed to the producer.
    finished_at: float = 0.0
    _thread: threading.Thread | None = None

    def start(self) -> None:
        # Generated before the clock starts, so the sending loop only stamps and encodes.
        count = int(self.rate * self.seconds)
        self._events = list(TrafficGenerator(seed=self.seed).events(count))
        gc.freeze()  # as in encode_events: no collector pass over them while sending
        self._thread = threading.Thread(target=self._run, name=f"paced-{self.rate}", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self.error is not None:
            raise BenchError(f"the paced producer at {self.rate}/s failed: {self.error}")

    def _run(self) -> None:
        try:
            self._send_all()
        except (KafkaException, BufferError, OSError, BenchError) as exc:
            self.error = exc

    def _send_all(self) -> None:
        producer = _producer(self.bootstrap, **{"linger.ms": 0})
        codec = Codec("ActionEvent")
        events = self._events
        started = time.perf_counter()
        sent = 0
        while sent < len(events):
            elapsed = time.perf_counter() - started
            # How far behind its schedule the loop woke up: a publisher that cannot keep up
            # would understate the offered load.
            self.behind_ms = max(self.behind_ms, (elapsed - sent / self.rate) * 1000)
            due = min(len(events), int(elapsed * self.rate) + 1)
            while sent < due:
                event = events[sent]
                event["occurred_at"] = int(time.time() * 1000)
                producer.produce(self.topic, codec.encode(event), event["principal"]["id"])
                self.sent_ids.append(event["event_id"])
                sent += 1
            producer.poll(0)
            time.sleep(0.001)
        self.finished_at = time.time()
        if producer.flush(30):
            raise BenchError(f"the paced producer could not deliver everything to {self.topic}")
