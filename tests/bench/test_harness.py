"""`clearance bench` end to end on the session broker, with tiny numbers (no timing checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearance.bench import parse_options, run_bench
from clearance.bench._report import DOCS_END, DOCS_START, write_docs_section
from clearance.bench.harness import _failure_lines, _reason
from clearance.localkafka import LocalKafka


def test_a_failure_repeated_over_runs_is_reported_once_naming_the_runs() -> None:
    failures: dict[tuple[str, str], list[int]] = {}
    for run, pid in ((1, 111), (2, 222)):
        message = (
            f"the worker (pid {pid}) exited with code 1 while the benchmark waited for output "
            f"on bench{pid:08x}.decisions; last lines of /tmp/run{run}/worker.log:\n"
            "Traceback (most recent call last):\n  ...\nTypeError: boom\n"
        )
        failures.setdefault(("throughput", _reason(message)), []).append(run)
    assert _failure_lines(failures) == [
        "throughput (run 1, 2): the worker exited with code 1 while the benchmark waited for "
        "output on decisions: TypeError: boom"
    ]


@pytest.mark.integration
def test_smoke_run_has_every_row_and_no_lost_or_doubled_decision(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    options = parse_options(
        [
            "--bootstrap",
            kafka.bootstrap,
            "--data-dir",
            str(tmp_path),
            "--events",
            "2000",
            "--rates",
            "200",
            "--latency-seconds",
            "1",
        ]
    )
    report = run_bench(options)

    assert report.failures == []
    assert [(row.kind, row.scenario.split(":")[0]) for row in report.rows] == [
        ("ceiling", "(a) ceiling"),
        ("faust-floor", "(c) Faust floor"),
        ("faust-floor-c", "(c) Faust floor, confluent-kafka producer"),
        ("naive", "(b) naive Faust agent, rule by rule"),
        ("pipeline", "pipeline, detectors access"),
        ("pipeline-audit", "pipeline, detectors access"),
        ("pipeline", "pipeline, detectors none"),
        ("pipeline-audit", "pipeline, detectors none"),
        ("latency-floor", "latency floor at 200/s"),
        ("latency", "latency at 200/s, detectors access, commit interval 200 ms, batch wait 20 ms"),
    ]
    for row in report.rows:
        assert (row.lost, row.doubled) == (0, 0), row
        assert row.rate > 0, row
    assert all(row.events == 2000 for row in report.rows if "latency" not in row.kind)
    for row in report.rows:
        if "latency" in row.kind:
            assert row.events == 200 and set(row.latency) == {"p50", "p95", "p99", "max"}
    # Without detectors the naive baseline decides exactly what the pipeline decides.
    assert report.agreement["none"] == (2000, 2000)
    assert report.agreement["access"][1] == 2000

    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nkept\n")
    write_docs_section(docs, report.markdown())
    text = docs.read_text()
    assert "kept" in text and text.count(DOCS_START) == 1 and text.count(DOCS_END) == 1
    for row in report.rows:
        assert f"| {row.scenario} |" in text
    assert "Targets" in text and "Machine:" in text
