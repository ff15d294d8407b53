"""Latency scenarios: event to decision at fixed offered loads, and the measurement's floor.

The worker runs and is caught up (a warm-up was decided) before each load is offered; one
reader receives decisions throughout (see :mod:`._measure` for how latency is timed). The
floor offers the same loads through the same publisher and reader with no worker between
them (the reader reads the events themselves): what the machine, the broker and the
benchmark's own process add to every latency figure.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from clearance.schemas import Codec

from ._child import ChildProcess
from ._errors import BenchError
from ._measure import OutputReader, latency_percentiles
from ._produce import PacedProducer
from ._report import Row
from ._space import Space, Stage
from ._worker import WorkerSettings, start_worker, stop_child

__all__ = ["run_latency", "run_latency_floor"]

_WARM_UP_RATE = 200
_STARTUP_SECONDS = 180.0
_STALL_SECONDS = 30.0


class _Timing(NamedTuple):
    """One output's timing, in ms: total, and split at ``decided_at`` (decisions only)."""

    total: float
    deciding: float | None
    visible: float | None
    arrived_s: float


# event id -> the timing of each of its outputs
_Timings = dict[str, list[_Timing]]


def _wait_for_count(
    reader: OutputReader, count: int, child: ChildProcess | None, stall_seconds: float
) -> bool:
    """Wait until ``count`` outputs arrived; give up after ``stall_seconds`` without progress.

    A load above what the worker sustains leaves a backlog that takes a while to drain; it
    is waited for as long as it drains, so such events count as late, not as lost.
    """
    seen, progress = len(reader.outputs), time.monotonic()
    while seen < count:
        if child is not None:
            child.check_alive("the benchmark waited for its output")
        now = time.monotonic()
        if len(reader.outputs) > seen:
            seen, progress = len(reader.outputs), now
        elif now - progress > stall_seconds:
            return False
        time.sleep(0.05)
    return True


def _offer_loads(
    stage: Stage,
    space: Space,
    reader: OutputReader,
    child: ChildProcess | None,
    rates: list[int],
    seconds: float,
    seed: int,
) -> list[PacedProducer]:
    """Warm up, then offer each load in turn and wait for its outputs."""
    topic = space.topic("actions")
    warm = PacedProducer(stage.bootstrap, topic, _WARM_UP_RATE, 1.0, seed)
    warm.start()
    warm.join()
    expected = len(warm.sent_ids)
    if not _wait_for_count(reader, expected, child, _STARTUP_SECONDS):
        where = f"; last lines of {child.log_path}:\n{child.log_tail()}" if child else ""
        raise BenchError(
            f"{len(reader.outputs)} of {expected} warm-up events came out on {reader.topic} "
            f"within {_STARTUP_SECONDS:.0f} s{where}"
        )
    windows = []
    for index, rate in enumerate(rates):
        window = PacedProducer(stage.bootstrap, topic, rate, seconds, seed + 1 + index)
        window.start()
        window.join()
        windows.append(window)
        expected += len(window.sent_ids)
        _wait_for_count(reader, expected, child, _STALL_SECONDS)
    time.sleep(1.0)  # anything beyond one output per event shows up here
    return windows


def _rows(
    label: str,
    kind: str,
    rates: list[int],
    seconds: float,
    windows: list[PacedProducer],
    seen: _Timings,
) -> list[Row]:
    rows = []
    for rate, window in zip(rates, windows, strict=True):
        found = [seen[i][0] for i in window.sent_ids if i in seen]
        rows.append(
            Row(
                scenario=label.format(rate=rate),
                kind=kind,
                events=len(window.sent_ids),
                seconds=seconds,
                rate=float(rate),
                latency=latency_percentiles([timing.total for timing in found]),
                lost=len(window.sent_ids) - len(found),
                doubled=sum(len(seen[i]) - 1 for i in window.sent_ids if i in seen),
                details=_details(found, window),
            )
        )
    return rows


def _details(found: list[_Timing], window: PacedProducer) -> dict[str, float]:
    details = {"behind_ms": window.behind_ms}
    deciding = [t.deciding for t in found if t.deciding is not None]
    visible = [t.visible for t in found if t.visible is not None]
    if deciding and visible:
        d, v = latency_percentiles(deciding), latency_percentiles(visible)
        details.update(
            deciding_p50=d["p50"], deciding_p99=d["p99"], visible_p50=v["p50"], visible_p99=v["p99"]
        )
    if found:
        details["backlog_s"] = max(0.0, max(t.arrived_s for t in found) - window.finished_at)
    return details


def run_latency(
    stage: Stage, rates: list[int], seconds: float, settings: WorkerSettings, seed: int
) -> list[Row]:
    """Event-to-decision latency at each offered load, through ``clearance worker``."""
    name = f"latency-{settings.commit_interval_ms}ms-{settings.batch_wait_ms}ms"
    with Space(stage, name) as space:
        worker = start_worker(stage, space, settings)
        reader = OutputReader(
            stage.bootstrap, space.topic("decisions"), space.group("reader"), low_latency=True
        )
        try:
            reader.start_thread()
            windows = _offer_loads(stage, space, reader, worker, rates, seconds, seed)
        finally:
            try:
                reader.close()
            finally:
                stop_child(worker)
    codec = Codec("Decision")
    seen: _Timings = {}
    for value, arrived in zip(reader.outputs.values, reader.outputs.arrived, strict=True):
        decision = codec.decode(value)
        received_ms = arrived * 1000
        seen.setdefault(decision["event_id"], []).append(
            _Timing(
                received_ms - decision["occurred_at"],
                decision["decided_at"] - decision["occurred_at"],
                received_ms - decision["decided_at"],
                arrived,
            )
        )
    label = "latency at {rate:,}/s, " + settings.describe()
    return _rows(label, "latency", rates, seconds, windows, seen)


def run_latency_floor(stage: Stage, rates: list[int], seconds: float, seed: int) -> list[Row]:
    """Publisher to reader with no worker between: the floor under every latency figure."""
    with Space(stage, "latency-floor") as space:
        reader = OutputReader(
            stage.bootstrap, space.topic("actions"), space.group("reader"), low_latency=True
        )
        try:
            reader.start_thread()
            windows = _offer_loads(stage, space, reader, None, rates, seconds, seed)
        finally:
            reader.close()
    codec = Codec("ActionEvent")
    seen: _Timings = {}
    for value, arrived in zip(reader.outputs.values, reader.outputs.arrived, strict=True):
        event = codec.decode(value)
        seen.setdefault(event["event_id"], []).append(
            _Timing(arrived * 1000 - event["occurred_at"], None, None, arrived)
        )
    label = "latency floor at {rate:,}/s: publisher to reader, no worker"
    return _rows(label, "latency-floor", rates, seconds, windows, seen)
