"""Reading what a process under test produced, and turning it into numbers.

Throughput is measured from the *timestamps of the output records*, which the broker sets
when it appends them (the bench creates output topics with ``LogAppendTime``, see
:mod:`._space`): from the first output to the last, they time the process under test as the
broker received its work, not when the benchmark's consumer happened to read the messages
nor when a transaction made them visible. Latency is measured
with *arrival* times instead: the wall clock when this consumer received a decision, minus
the event's ``occurred_at`` (same host, same clock), which includes every delay a downstream
reader sees, the transaction commit included.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from confluent_kafka import Consumer, KafkaError

from ._child import ChildProcess
from ._errors import BenchError

__all__ = ["CpuMeter", "OutputReader", "Outputs", "cpu_seconds", "latency_percentiles"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds process ``pid`` has used (all its threads), None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after it are plain numbers.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU share of some processes between :meth:`start` and :meth:`stop`, in % of one core."""

    pids: dict[str, int]
    _start: dict[str, float] = field(default_factory=dict)
    _started_at: float = 0.0
    percent: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self._started_at = time.perf_counter()
        self._start = {
            name: used for name, pid in self.pids.items() if (used := cpu_seconds(pid)) is not None
        }

    def stop(self) -> None:
        wall = time.perf_counter() - self._started_at
        for name, pid in self.pids.items():
            used = cpu_seconds(pid)
            if used is not None and name in self._start and wall > 0:
                self.percent[name] = 100 * (used - self._start[name]) / wall


@dataclass
class Outputs:
    """Messages read from an output topic, in arrival order."""

    values: list[bytes] = field(default_factory=list)
    #: Record timestamps (ms since the epoch): broker append times on the bench's topics.
    stamped_ms: list[int] = field(default_factory=list)
    #: Wall-clock seconds when this process received each message.
    arrived: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def span_seconds(self, count: int) -> tuple[float, float]:
        """Timestamp of the first output and of the ``count``-th (in time order), in s."""
        stamps = sorted(self.stamped_ms)
        return stamps[0] / 1000, stamps[min(count, len(stamps)) - 1] / 1000


class OutputReader:
    """A ``read_committed`` consumer of one topic from its beginning, in a fresh group.

    Parameters
    ----------
    bootstrap, topic, group
        Where to read, and the (new) consumer group.
    low_latency
        Ask the broker to answer fetches within 10 ms instead of librdkafka's 500 ms, so the
        reader itself adds no delay to a latency measurement.
    """

    def __init__(self, bootstrap: str, topic: str, group: str, low_latency: bool = False) -> None:
        self.topic = topic
        config = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
        if low_latency:
            config["fetch.wait.max.ms"] = 10
        self._consumer = Consumer(config)
        self._consumer.subscribe([topic])
        self.outputs = Outputs()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def close(self) -> None:
        try:
            self.stop_thread()
        finally:
            self._consumer.close()

    def _take(self, timeout: float) -> int:
        messages = self._consumer.consume(1000, timeout)
        arrived = time.time()
        out = self.outputs
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise BenchError(f"reading {self.topic} failed: {error}")
            out.values.append(message.value() or b"")
            out.stamped_ms.append(message.timestamp()[1])
            out.arrived.append(arrived)
        return len(messages)

    def read_until(
        self,
        count: int,
        child: ChildProcess,
        cpu: CpuMeter | None = None,
        startup_timeout: float = 180,
        stall_timeout: float = 60,
        linger: float = 1.0,
    ) -> Outputs:
        """Read until ``count`` messages arrived, then ``linger`` seconds more (for doubles).

        ``cpu`` is started at the first message and stopped at the ``count``-th.

        Raises
        ------
        BenchError
            When ``child`` exits, nothing arrives within ``startup_timeout`` seconds, or
            nothing more arrives for ``stall_timeout`` seconds.
        """
        started = last_progress = time.monotonic()
        while len(self.outputs) < count:
            before = len(self.outputs)
            self._take(0.2)
            now = time.monotonic()
            if len(self.outputs) > before:
                if before == 0 and cpu is not None:
                    cpu.start()
                last_progress = now
                continue
            child.check_alive(f"the benchmark waited for output on {self.topic}")
            waited, limit = (
                (now - started, startup_timeout)
                if not self.outputs
                else (now - last_progress, stall_timeout)
            )
            if waited > limit:
                raise BenchError(
                    f"{len(self.outputs)} of {count} messages on {self.topic} and none for "
                    f"{waited:.0f} s; last lines of {child.log_path}:\n{child.log_tail()}"
                )
        if cpu is not None:
            cpu.stop()
        end = time.monotonic() + linger
        while time.monotonic() < end:
            self._take(0.1)
        return self.outputs

    def start_thread(self) -> None:
        """Read continuously in a thread (message by message) until :meth:`stop_thread`."""
        self._thread = threading.Thread(target=self._run, name=f"read-{self.topic}", daemon=True)
        self._thread.start()

    def stop_thread(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise BenchError(f"the reader of {self.topic} failed: {self.error}")

    def _run(self) -> None:
        out = self.outputs
        poll = self._consumer.poll
        try:
            while not self._stop.is_set():
                # One message at a time: a batch call would wait to fill its batch.
                message = poll(0.05)
                if message is None:
                    continue
                arrived = time.time()
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise BenchError(f"reading {self.topic} failed: {error}")
                out.values.append(message.value() or b"")
                out.stamped_ms.append(message.timestamp()[1])
                out.arrived.append(arrived)
        except BaseException as exc:  # reported by stop_thread in the main thread
            self.error = exc


def latency_percentiles(latencies_ms: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of a list of latencies in milliseconds."""
    if not latencies_ms:
        return {}
    values = np.asarray(latencies_ms, dtype=float)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(values.max())}
