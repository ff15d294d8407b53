"""The bench table, medians over repeats, and the docs section."""

from __future__ import annotations

from pathlib import Path

from clearance.bench._report import (
    DOCS_END,
    DOCS_START,
    Row,
    machine_line,
    median_rows,
    render_table,
    write_docs_section,
)


def _row(scenario: str, kind: str, rate: float, **extra: object) -> Row:
    return Row(scenario=scenario, kind=kind, events=1000, seconds=1000 / rate, rate=rate, **extra)  # type: ignore[arg-type]


def test_table_compares_throughput_rows_with_the_baselines_only() -> None:
    rows = [
        _row("ceiling", "ceiling", 40_000.0),
        _row("floor", "faust-floor", 8_000.0),
        _row("floor-c", "faust-floor-c", 10_000.0),
        _row("naive", "naive", 2_000.0),
        _row("pipeline", "pipeline", 10_000.0),
        _row("lat", "latency", 1_000.0, latency={"p50": 3.0, "p95": 4.0, "p99": 5.5, "max": 9}),
    ]
    lines = render_table(rows).splitlines()
    cells = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in lines[2:]}
    assert cells["pipeline"][4:7] == ["5.0x", "1.25x", "0.25x"]
    assert cells["naive"][4:7] == ["1.0x", "0.25x", "0.05x"]
    assert cells["floor-c"][4:7] == ["5.0x", "1.25x", "0.25x"]
    assert cells["lat"][4:11] == ["", "", "", "3.0", "4.0", "5.5", "9.0"]
    assert len({line.count("|") for line in lines}) == 1


def test_medians_over_repeats_and_sums_of_lost_and_doubled() -> None:
    runs = [
        [_row("pipeline", "pipeline", rate, lost=lost, cpu={"worker": cpu})]
        for rate, lost, cpu in ((10.0, 0, 90.0), (30.0, 2, 100.0), (20.0, 1, 95.0))
    ]
    [row] = median_rows(runs)
    assert row.rate == 20.0 and row.lost == 3 and row.cpu == {"worker": 95.0}


def test_docs_section_is_replaced_between_markers_and_the_rest_kept(tmp_path: Path) -> None:
    docs = tmp_path / "docs" / "benchmarks.md"
    write_docs_section(docs, "first")
    assert docs.read_text().startswith("# Benchmarks")
    docs.write_text(docs.read_text() + "\n## Other section\n\nmine\n")
    write_docs_section(docs, "second")
    text = docs.read_text()
    assert "first" not in text and "second" in text and "mine" in text
    assert text.index(DOCS_START) < text.index("second") < text.index(DOCS_END)


def test_machine_line_names_cores_and_versions() -> None:
    line = machine_line("4.1.0", "local broker")
    assert "cores" in line and "Kafka 4.1.0 (local broker)" in line and "Python 3." in line


def test_latency_details_are_medians_and_become_the_row_remarks() -> None:
    runs = [
        [
            _row(
                "lat",
                "latency",
                5000.0,
                details={
                    "deciding_p50": p50,
                    "deciding_p99": 90.0,
                    "visible_p50": 10.0,
                    "visible_p99": 30.0,
                    "backlog_s": backlog,
                    "behind_ms": 1.0,
                },
            )
        ]
        for p50, backlog in ((20.0, 0.2), (40.0, 12.0), (30.0, 9.0))
    ]
    [row] = median_rows(runs)
    assert row.details["deciding_p50"] == 30.0 and row.details["backlog_s"] == 9.0
    remarks = row.remarks()
    assert "event to `decided_at` p50 30 / p99 90 ms" in remarks
    assert "9 s after the load stopped" in remarks and "publisher" not in remarks
    assert _row("quiet", "latency", 10.0, details={"behind_ms": 3.0}).remarks() == ""
