"""The benchmark's result: rows, their medians over repeats, the table, the machine line, docs."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path

import confluent_kafka

__all__ = [
    "DOCS_END",
    "DOCS_START",
    "Row",
    "code_version",
    "machine_line",
    "median_rows",
    "render_table",
    "write_docs_section",
]

DOCS_START = "<!-- bench:pipeline:start -->"
DOCS_END = "<!-- bench:pipeline:end -->"
_DOCS_TITLE = "# Benchmarks\n\nResults of `clearance bench` (code in `bench/`).\n"

# Kinds of rows: throughput rows are compared with the two baselines, latency rows are not.
THROUGHPUT_KINDS = (
    "ceiling",
    "faust-floor",
    "faust-floor-c",
    "naive",
    "pipeline",
    "pipeline-audit",
)


@dataclass(frozen=True)
class Row:
    """One line of the table.

    Attributes
    ----------
    scenario
        What ran, as printed.
    kind
        ``ceiling``, ``faust-floor`` (``faust-floor-c``: with a confluent-kafka producer),
        ``naive``, ``pipeline`` (decisions on Kafka), ``pipeline-audit`` (decisions in
        ClickHouse) or ``latency``.
    events
        Events measured (per repeat).
    seconds
        Measured span: first to last output for throughput, the offering time for latency.
    rate
        Events per second: sustained throughput, or the offered load of a latency row.
    latency
        ``p50``/``p95``/``p99``/``max`` in milliseconds (latency rows).
    lost, doubled
        Events without an output, and outputs beyond one per event (summed over repeats).
    cpu
        Share of one core used by ``worker`` and ``broker`` while measuring, in percent.
    startup
        Seconds from starting the process to its first output.
    details
        More figures the notes show (medians over repeats): for latency rows
        ``deciding_p50``/``deciding_p99`` (event to ``decided_at``, ms),
        ``visible_p50``/``visible_p99`` (``decided_at`` to received, ms), ``backlog_s``
        (last output after the load stopped, s) and ``behind_ms`` (the publisher's worst lag
        behind its schedule).
    """

    scenario: str
    kind: str
    events: int
    seconds: float
    rate: float
    latency: dict[str, float] = field(default_factory=dict)
    lost: int = 0
    doubled: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    startup: float | None = None
    details: dict[str, float] = field(default_factory=dict)

    def remarks(self) -> str:
        """What the notes say about this row, from its details; empty when nothing."""
        d = self.details
        parts = []
        if "deciding_p50" in d:
            parts.append(
                f"event to `decided_at` p50 {d['deciding_p50']:.0f} / p99 "
                f"{d['deciding_p99']:.0f} ms, `decided_at` to received p50 "
                f"{d['visible_p50']:.0f} / p99 {d['visible_p99']:.0f} ms"
            )
        if d.get("backlog_s", 0.0) > 1.0:
            parts.append(
                "more than the process sustains: its last output came "
                f"{d['backlog_s']:.0f} s after the load stopped"
            )
        if d.get("behind_ms", 0.0) > 50:
            # A publisher that cannot keep up would understate the offered load.
            parts.append(f"the publisher fell up to {d['behind_ms']:.0f} ms behind its schedule")
        return "; ".join(parts)


def _median_dict(dicts: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = set.intersection(*(set(d) for d in dicts)) if dicts else set()
    return {key: statistics.median(d[key] for d in dicts) for key in keys}


def median_rows(runs: Sequence[Sequence[Row]]) -> list[Row]:
    """One row per scenario: medians of the figures, sums of lost and doubled."""
    by_scenario: dict[str, list[Row]] = {}
    for run in runs:
        for row in run:
            by_scenario.setdefault(row.scenario, []).append(row)
    merged = []
    for rows in by_scenario.values():
        startups = [r.startup for r in rows if r.startup is not None]
        merged.append(
            replace(
                rows[0],
                seconds=statistics.median(r.seconds for r in rows),
                rate=statistics.median(r.rate for r in rows),
                latency=_median_dict([r.latency for r in rows]),
                lost=sum(r.lost for r in rows),
                doubled=sum(r.doubled for r in rows),
                cpu=_median_dict([r.cpu for r in rows]),
                startup=statistics.median(startups) if startups else None,
                details=_median_dict([r.details for r in rows]),
            )
        )
    return merged


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}"


def render_table(rows: Sequence[Row]) -> str:
    """The Markdown table of ``rows``, ratios against the baselines included."""
    reference = {
        row.kind: row.rate for row in rows if row.kind in ("ceiling", "faust-floor", "naive")
    }
    header = (
        "| scenario | events | seconds | events/s | vs naive (b) | vs Faust floor (c) "
        "| vs ceiling (a) "
        "| p50 ms | p95 ms | p99 ms | max ms | lost | doubled | worker CPU | broker CPU |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for row in rows:
        throughput = row.kind in THROUGHPUT_KINDS
        naive = reference.get("naive")
        ceiling = reference.get("ceiling")
        floor = reference.get("faust-floor")
        cells = [
            row.scenario,
            f"{row.events:,}",
            _number(row.seconds, 1),
            _number(row.rate),
            f"{row.rate / naive:.1f}x" if throughput and naive else "",
            f"{row.rate / floor:.2f}x" if throughput and floor else "",
            f"{row.rate / ceiling:.2f}x" if throughput and ceiling else "",
            *(_number(row.latency.get(key), 1) for key in ("p50", "p95", "p99", "max")),
            str(row.lost),
            str(row.doubled),
            f"{row.cpu['worker']:.0f} %" if "worker" in row.cpu else "",
            f"{row.cpu['broker']:.0f} %" if "broker" in row.cpu else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def machine_line(kafka_version: str | None, broker_where: str) -> str:
    """``Machine: x86_64, <CPU>, 2 cores, 24 GiB RAM, Kafka ..., Python ...`` and load."""
    load = os.getloadavg()[0]
    return (
        f"Machine: {platform.machine()}, {_cpu_model()}, {os.cpu_count()} cores, "
        f"{_ram_gib():.0f} GiB RAM, Kafka {kafka_version or 'version unknown'} "
        f"({broker_where}), Python {platform.python_version()}, "
        f"confluent-kafka {confluent_kafka.__version__} (librdkafka "
        f"{confluent_kafka.libversion()[0]}), faust-streaming {version('faust-streaming')}; "
        f"load average {load:.1f} at start"
    )


def code_version(repo: Path) -> str:
    """``git <short hash>`` of ``repo``, with a mark when tracked files have local changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "code version unknown (not a git checkout)"
    return f"code at git {head}" + (" with local changes" if changed else "")


def write_docs_section(path: Path, section: str) -> None:
    """Put ``section`` between the bench markers of ``path``, keeping everything else.

    The file is created (with a title) when missing; the markers are appended when absent.
    """
    block = f"{DOCS_START}\n{section.strip()}\n{DOCS_END}"
    text = path.read_text(encoding="utf-8") if path.exists() else _DOCS_TITLE
    start, end = text.find(DOCS_START), text.find(DOCS_END)
    if start >= 0 and end > start:
        text = text[:start] + block + text[end + len(DOCS_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
