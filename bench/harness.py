"""``clearance bench``: the pipeline's throughput and latency on a real broker, with baselines.

Run::

    clearance bench                         # N=200,000, loads 1,000/s and 5,000/s
    clearance bench --repeat 3 --write-docs # medians of 3 runs into docs/benchmarks.md
    clearance bench --events 20000 --scenarios throughput --skip-baselines

Scenarios (each on fresh topics, consumer groups and audit store; see :mod:`._space`):

* ``ceiling`` -- baseline (a): a bare confluent-kafka loop copying the N events unchanged.
* ``faust-floor`` -- baseline (c): a Faust agent that copies the N events unchanged in
  batches, doing no work: what Faust's consumer and producer alone cost per event
  (:mod:`clearance.bench.faust_floor`).
* ``naive`` -- baseline (b): a plain Faust agent deciding event by event, rule by rule,
  ``await topic.send`` per decision (:mod:`clearance.bench.naive_faust`).
* ``throughput`` -- ``clearance worker`` on the N pre-produced events: sustained rate until
  all N decisions are on ``<prefix>decisions``, and until ClickHouse holds them all; once
  per ``--detectors`` value.
* ``latency`` -- the floor (publisher to reader, no worker), then the worker, caught up,
  offered each load in turn: event-to-decision latency per load, once per
  ``--commit-intervals`` value.

Numbers are measurements, not assertions: the targets are printed beside them.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path

from clearance.config import load_settings
from clearance.errors import ClearanceError
from clearance.localkafka import LocalKafka

from ._latency import run_latency, run_latency_floor
from ._options import SCENARIOS, BenchOptions, parse_options
from ._pack import bench_pack
from ._produce import EncodedEvents, encode_events
from ._report import Row, code_version, machine_line, median_rows, write_docs_section
from ._space import Stage
from ._summary import BenchReport
from ._throughput import Verdicts, run_ceiling, run_faust_floor, run_naive, run_pipeline
from ._worker import WorkerSettings

REPO = Path(__file__).resolve().parent.parent

__all__ = ["SCENARIOS", "BenchOptions", "BenchReport", "main", "parse_options", "run_bench"]


def _say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _brief(row: Row) -> str:
    if row.latency:
        return f"p99 {row.latency['p99']:.1f} ms, lost {row.lost}, doubled {row.doubled}"
    return f"over {row.seconds:.1f} s, lost {row.lost}, doubled {row.doubled}"


def _agreement(naive: Verdicts, pipeline: Verdicts) -> tuple[int, int]:
    same = sum(1 for key in naive.keys() & pipeline.keys() if naive[key] == pipeline[key])
    return same, len(naive.keys() | pipeline.keys())


def _run_once(
    stage: Stage,
    events: EncodedEvents,
    options: BenchOptions,
    run: int,
    failures: dict[tuple[str, str], list[int]],
) -> tuple[list[Row], Verdicts, dict[str, Verdicts]]:
    """One run of every selected scenario; a failing step is recorded and the rest go on."""
    rows: list[Row] = []
    naive: Verdicts = {}
    pipelines: dict[str, Verdicts] = {}

    def step(what: str, measure: Callable[[], list[Row]]) -> None:
        _say(f"run {run + 1}/{options.repeat}: {what}")
        try:
            found = measure()
        except ClearanceError as exc:
            _say(f"  FAILED: {exc}")
            failures.setdefault((what, _reason(str(exc))), []).append(run + 1)
            return
        for row in found:
            _say(f"  {row.scenario}: {row.rate:,.0f} events/s {_brief(row)}")
        rows.extend(found)

    def naive_rows() -> list[Row]:
        found, verdicts = run_naive(stage, events)
        naive.update(verdicts)
        return found

    def pipeline_rows(settings: WorkerSettings) -> list[Row]:
        found, pipelines[settings.detectors] = run_pipeline(stage, events, settings)
        return found

    rates, seconds = list(options.rates), options.latency_seconds
    seed = options.seed + 1000 * (run + 1)
    for scenario in options.scenarios:
        if scenario == "ceiling":
            step("ceiling", lambda: run_ceiling(stage, events))
        elif scenario == "faust-floor":
            step("faust-floor", lambda: run_faust_floor(stage, events))
        elif scenario == "naive":
            step("naive", naive_rows)
        elif scenario == "throughput":
            for detectors in options.detectors:
                settings = WorkerSettings(
                    options.commit_intervals_ms[0], detectors, options.batch_waits_ms[0]
                )
                step(f"throughput, {settings.describe()}", partial(pipeline_rows, settings))
        else:
            step("latency floor", lambda: run_latency_floor(stage, rates, seconds, seed))
            for interval in options.commit_intervals_ms:
                for wait in options.batch_waits_ms:
                    settings = WorkerSettings(interval, options.detectors[0], wait)
                    step(
                        f"latency, {settings.describe()}",
                        partial(run_latency, stage, rates, seconds, settings, seed),
                    )
    return rows, naive, pipelines


def _reason(message: str) -> str:
    """A failure in one line: what happened and the last line of the log it points to."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    # The first line names a log file under the run's work dir (its last line says why), a
    # pid and a scenario's topic: none of them repeats from one run to the next.
    first = lines[0].split("; last lines of ")[0]
    first = re.sub(r" \(pid \d+\)", "", re.sub(r"\bbench[0-9a-f]{8}\.", "", first))
    return first if len(lines) < 2 else f"{first}: {lines[-1]}"


def _failure_lines(failures: dict[tuple[str, str], list[int]]) -> list[str]:
    return [
        f"{what} (run {', '.join(str(run) for run in runs)}): {reason}"
        for (what, reason), runs in failures.items()
    ]


def run_bench(options: BenchOptions) -> BenchReport:
    """Run the selected scenarios ``options.repeat`` times; returns the medians."""
    started = time.monotonic()
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    data_dir = options.data_dir or load_settings().data_dir
    broker: LocalKafka | None = None
    if options.bootstrap is None:
        broker = LocalKafka(data_dir=data_dir / "bench-kafka", port=options.port)
        _say(f"starting the bench broker at {broker.bootstrap} (data in {broker.data_dir})")
        broker.up(timeout=180)
        status = broker.status()
        bootstrap, broker_pid, version = broker.bootstrap, status.pid, status.version
        where = "local broker on the same machine"
    else:
        bootstrap, broker_pid, version, where = options.bootstrap, None, None, options.bootstrap
    try:
        machine = f"{machine_line(version, where)}; {code_version(REPO)}"
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        work_dir = (data_dir / "bench-runs" / stamp).resolve()
        pack, pack_description = bench_pack(work_dir, options.rules)
        stage = Stage(bootstrap, work_dir, pack, options.partitions, broker_pid)
        _say(f"encoding {options.events:,} events; work dir {work_dir}")
        events = encode_events(options.events, options.seed)
        runs: list[list[Row]] = []
        agreement: dict[str, tuple[int, int]] = {}
        failures: dict[tuple[str, str], list[int]] = {}
        for run in range(options.repeat):
            rows, naive, pipelines = _run_once(stage, events, options, run, failures)
            if naive:
                agreement = {d: _agreement(naive, found) for d, found in pipelines.items()}
            runs.append(rows)
            # Every run's own figures, for a look behind the medians.
            (work_dir / "results.json").write_text(
                json.dumps([[asdict(row) for row in rows] for rows in runs], indent=1)
            )
    finally:
        if broker is not None and options.stop_broker:
            _say("stopping the bench broker")
            broker.down()
    return BenchReport(
        options=options,
        rows=median_rows(runs),
        machine=machine,
        pack=pack_description,
        started_at=started_at,
        seconds=time.monotonic() - started,
        runs=len(runs),
        agreement=agreement,
        failures=_failure_lines(failures),
    )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``clearance bench``; returns the exit code."""
    options = parse_options(argv)
    # SIGTERM unwinds like Ctrl-C, so the scenarios stop the workers they started (Python's
    # default for SIGTERM exits at once and leaves them running).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    report = run_bench(options)
    print(report.markdown())
    if options.write_docs:
        write_docs_section(options.docs, report.markdown())
        _say(f"wrote the results to {options.docs}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
