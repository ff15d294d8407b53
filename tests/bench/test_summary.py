"""The report's targets and notes."""

from __future__ import annotations

from clearance.bench import parse_options
from clearance.bench._report import Row
from clearance.bench._summary import BenchReport


def _report(rows: list[Row], failures: list[str] | None = None) -> BenchReport:
    return BenchReport(
        options=parse_options([]),
        rows=rows,
        machine="Machine: test",
        pack="a pack",
        started_at="now",
        seconds=60.0,
        runs=1,
        agreement={"none": (10, 10)},
        failures=failures or [],
    )


def _row(scenario: str, kind: str, rate: float, **extra: object) -> Row:
    return Row(scenario=scenario, kind=kind, events=10, seconds=1.0, rate=rate, **extra)  # type: ignore[arg-type]


def test_targets_say_met_or_missed_against_the_first_pipeline_row() -> None:
    report = _report(
        [
            _row("naive", "naive", 2_000.0),
            _row("p1", "pipeline", 25_000.0),
            _row("p1 ch", "pipeline-audit", 15_000.0),
            _row("p2", "pipeline", 1_000.0),
            _row("l", "latency", 5_000.0, latency={"p50": 5.0, "p95": 9.0, "p99": 60.0}),
        ]
    )
    targets = report.targets()
    assert targets[0].endswith("25,000 (met)") and "p1" in targets[0]
    assert targets[1].endswith("15,000 (**missed**)")
    assert targets[2] == ">= 5x baseline (b): 12.5x (met)"
    assert targets[3].endswith("60.0 ms (**missed**)")
    assert len(targets) == 4


def test_markdown_lists_failures_and_agreement() -> None:
    text = _report([_row("naive", "naive", 2.0)], ["throughput (run 1): boom"]).markdown()
    assert "**Failed**" in text and "- throughput (run 1): boom" in text
    assert "agree (effect and rule ids) on 10 of 10 events" in text
    assert text.index("| naive |") < text.index("Targets")
