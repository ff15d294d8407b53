"""Throughput scenarios: the pipeline's and the three baselines'.

They share one shape: pre-produce the same N encoded events to a fresh
``actions`` topic, start the process under test, read its N outputs back (``read_committed``)
and time them by their record timestamps (see :mod:`._measure`); then check that every
event got exactly one output.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from clearance.audit import query
from clearance.errors import ClearanceError
from clearance.schemas import Codec

from ._child import ChildProcess, child_env
from ._errors import BenchError
from ._measure import CpuMeter, OutputReader
from ._produce import EncodedEvents, preproduce
from ._report import Row
from ._space import Space, Stage
from ._worker import WorkerSettings, audit_dsn, start_worker, stop_child

__all__ = ["Verdicts", "run_ceiling", "run_faust_floor", "run_naive", "run_pipeline"]

#: event id -> (effect, rule ids) as decided, for comparing the naive app with the pipeline.
Verdicts = dict[str, tuple[str, tuple[str, ...]]]

_COUNT_SQL = "SELECT count() FROM clearance.decisions FINAL"
_RECORDED_SQL = (
    "SELECT toUnixTimestamp64Milli(max(recorded_at)), count(), uniqExact(event_id) "
    "FROM clearance.decisions"
)


@dataclass
class _Tally:
    lost: int
    doubled: int
    unexpected: int
    verdicts: Verdicts = field(default_factory=dict)


def _tally(expected: Iterable[str], decoded: Iterable[dict[str, Any]]) -> _Tally:
    counts: Counter[str] = Counter()
    verdicts: Verdicts = {}
    for record in decoded:
        event_id = record["event_id"]
        counts[event_id] += 1
        if "effect" in record:
            verdicts[event_id] = (record["effect"], tuple(record["rule_ids"]))
    wanted = set(expected)
    return _Tally(
        lost=len(wanted - counts.keys()),
        doubled=sum(counts.values()) - len(counts),
        unexpected=len(counts.keys() - wanted),
        verdicts=verdicts,
    )


@dataclass
class _Measured:
    row: Row
    first_output: float
    tally: _Tally


def _measure_throughput(
    stage: Stage,
    space: Space,
    events: EncodedEvents,
    label: str,
    kind: str,
    start: Callable[[], ChildProcess],
    output_kind: str,
) -> tuple[_Measured, ChildProcess]:
    count = len(events.messages)
    preproduce(stage.bootstrap, space.topic("actions"), events.messages)
    reader = OutputReader(stage.bootstrap, space.topic("decisions"), space.group("reader"))
    child = start()
    try:
        spawned = time.time()
        pids = {"worker": child.pid}
        if stage.broker_pid is not None:
            pids["broker"] = stage.broker_pid
        cpu = CpuMeter(pids)
        outputs = reader.read_until(count, child, cpu)
    except BaseException:
        child.stop()
        raise
    finally:
        reader.close()
    first, last = outputs.span_seconds(count)
    seconds = max(last - first, 1e-3)
    codec = Codec(output_kind)
    tally = _tally(events.event_ids, (codec.decode(value) for value in outputs.values))
    row = Row(
        scenario=label,
        kind=kind,
        events=count,
        seconds=seconds,
        rate=(count - 1) / seconds,
        lost=tally.lost + tally.unexpected,
        doubled=tally.doubled,
        cpu=cpu.percent,
        startup=first - spawned,
    )
    return _Measured(row, first, tally), child


def run_ceiling(stage: Stage, events: EncodedEvents) -> list[Row]:
    """Baseline (a): the bare confluent-kafka copy loop."""
    with Space(stage, "ceiling") as space:

        def start() -> ChildProcess:
            args = [
                "--bootstrap",
                stage.bootstrap,
                "--input",
                space.topic("actions"),
                "--output",
                space.topic("decisions"),
                "--group",
                space.group("ceiling"),
            ]
            return ChildProcess(
                "ceiling loop",
                "clearance.bench.ceiling",
                args,
                child_env({}),
                space.dir / "ceiling.log",
            )

        label = "(a) ceiling: bare confluent-kafka copy"
        measured, child = _measure_throughput(
            stage, space, events, label, "ceiling", start, "ActionEvent"
        )
        stop_child(child)
    return [measured.row]


def _faust_child(
    stage: Stage, space: Space, name: str, module: str, what: str, extra: list[str]
) -> ChildProcess:
    """``python -m clearance.bench.<module>`` (a Faust baseline) from the space's ``actions``
    to its ``decisions``, with group and log named ``name``."""
    args = [
        "--bootstrap",
        stage.bootstrap,
        "--input",
        space.topic("actions"),
        "--output",
        space.topic("decisions"),
        "--app-id",
        space.group(name),
        "--data-dir",
        str(space.dir / "faust"),
        *extra,
    ]
    return ChildProcess(
        what, f"clearance.bench.{module}", args, child_env({}), space.dir / f"{name}.log"
    )


def run_faust_floor(stage: Stage, events: EncodedEvents) -> list[Row]:
    """Baseline (c): a Faust agent copying the N events unchanged, in batches; once with
    Faust's producer and once with a confluent-kafka one."""
    rows = []
    for producer, label in (
        ("faust", "(c) Faust floor: batches copied unchanged"),
        ("confluent", "(c) Faust floor, confluent-kafka producer"),
    ):
        with Space(stage, f"faust-floor-{producer}") as space:

            def start(space: Space = space, producer: str = producer) -> ChildProcess:
                return _faust_child(
                    stage,
                    space,
                    "faust-floor",
                    "faust_floor",
                    "Faust floor app",
                    ["--producer", producer],
                )

            kind = "faust-floor" if producer == "faust" else "faust-floor-c"
            measured, child = _measure_throughput(
                stage, space, events, label, kind, start, "ActionEvent"
            )
            stop_child(child)
        rows.append(measured.row)
    return rows


def run_naive(stage: Stage, events: EncodedEvents) -> tuple[list[Row], Verdicts]:
    """Baseline (b): the naive Faust agent; also returns its verdicts for comparison."""
    with Space(stage, "naive") as space:

        def start() -> ChildProcess:
            return _faust_child(
                stage, space, "naive", "naive_faust", "naive Faust app", ["--pack", str(stage.pack)]
            )

        label = "(b) naive Faust agent, rule by rule"
        measured, child = _measure_throughput(
            stage, space, events, label, "naive", start, "Decision"
        )
        stop_child(child)
    return [measured.row], measured.tally.verdicts


def _wait_recorded(dsn: str, count: int, worker: ChildProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    recorded = 0
    while time.monotonic() < deadline:
        worker.check_alive("the benchmark waited for ClickHouse")
        try:
            recorded = int(query(_COUNT_SQL, dsn).rows[0][0])
        except ClearanceError:
            recorded = 0  # the store or its endpoint is not up yet
        if recorded >= count:
            return
        time.sleep(0.2)
    raise BenchError(
        f"ClickHouse holds {recorded} of {count} decisions after {timeout:.0f} s; last lines "
        f"of {worker.log_path}:\n{worker.log_tail()}"
    )


def run_pipeline(
    stage: Stage, events: EncodedEvents, settings: WorkerSettings
) -> tuple[list[Row], Verdicts]:
    """The full pipeline: decisions on Kafka, then recorded in ClickHouse."""
    name = f"pipeline, detectors {settings.detectors}"
    with Space(stage, f"pipeline-{settings.detectors}") as space:
        measured, worker = _measure_throughput(
            stage,
            space,
            events,
            f"{name}: decisions on Kafka",
            "pipeline",
            lambda: start_worker(stage, space, settings),
            "Decision",
        )
        count = measured.row.events
        dsn = audit_dsn(space)
        try:
            _wait_recorded(dsn, count, worker, timeout=max(120.0, count / 500))
            recorded_ms, _rows, distinct = query(_RECORDED_SQL, dsn).rows[0]
            final = int(query(_COUNT_SQL, dsn).rows[0][0])
        finally:
            stop_child(worker)
    seconds = max(int(recorded_ms) / 1000 - measured.first_output, 1e-3)
    audit = Row(
        scenario=f"{name}: decisions in ClickHouse",
        kind="pipeline-audit",
        events=count,
        seconds=seconds,
        rate=count / seconds,
        lost=count - int(distinct),
        # Rows beyond one per event that FINAL did not collapse (redeliveries it did collapse
        # are no error: the audit sink is at least once by design).
        doubled=final - int(distinct),
    )
    return [measured.row, audit], measured.tally.verdicts
