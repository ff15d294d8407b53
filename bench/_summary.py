"""The benchmark's report: the table, the targets, and the notes a reader needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._options import BenchOptions
from ._report import Row, render_table

__all__ = ["BenchReport"]

# Targets the issue sets; reported against, never asserted.
TARGET_RATE = 20_000
TARGET_VS_NAIVE = 5.0
TARGET_P99_MS = 50.0
TARGET_P99_LOAD = 5_000


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


@dataclass
class BenchReport:
    """The medians of every scenario, and what the table's reader needs to know.

    Attributes
    ----------
    agreement
        Per ``CLEARANCE_DETECTORS`` value: events on which the naive baseline and the
        pipeline gave the same effect and rule ids, and events compared.
    failures
        Steps that failed (and are missing from the table), with the reason.
    """

    options: BenchOptions
    rows: list[Row]
    machine: str
    pack: str
    started_at: str
    seconds: float
    runs: int
    agreement: dict[str, tuple[int, int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def table(self) -> str:
        return render_table(self.rows)

    def _first(self, kind: str) -> Row | None:
        return next((row for row in self.rows if row.kind == kind), None)

    def targets(self) -> list[str]:
        """One line per target: the figure measured and whether it is met."""
        lines = []
        for kind in ("pipeline", "pipeline-audit"):
            row = self._first(kind)
            if row is not None:
                lines.append(
                    f">= {TARGET_RATE:,} events/s through one worker ({row.scenario}): "
                    f"{row.rate:,.0f} ({_met(row.rate >= TARGET_RATE)})"
                )
        pipeline, naive = self._first("pipeline"), self._first("naive")
        if pipeline is not None and naive is not None:
            ratio = pipeline.rate / naive.rate
            lines.append(
                f">= {TARGET_VS_NAIVE:.0f}x baseline (b): {ratio:.1f}x "
                f"({_met(ratio >= TARGET_VS_NAIVE)})"
            )
        for row in self.rows:
            if row.kind == "latency" and row.rate == TARGET_P99_LOAD and "p99" in row.latency:
                p99 = row.latency["p99"]
                lines.append(
                    f"p99 <= {TARGET_P99_MS:.0f} ms at {TARGET_P99_LOAD:,}/s ({row.scenario}): "
                    f"{p99:.1f} ms ({_met(p99 <= TARGET_P99_MS)})"
                )
        return lines

    def notes(self) -> list[str]:
        o = self.options
        notes = [
            f"Pack: {self.pack}.",
            f"Events: {o.events:,} seeded demo events (clearance.traffic, seed {o.seed}), Avro "
            "single-object encoded, keyed by principal id, on topics of "
            f"{o.partitions} partitions; pre-produced before the process under test starts, "
            "the same bytes for every throughput scenario.",
            "Pipeline: `clearance worker` with its defaults (exactly_once, audit sink in the "
            "same process on the embedded store) and CLEARANCE_DETECTORS as the row says "
            "(`access`: unusual-access scores from the cold-start model, which the pack's "
            f"`anomaly.*` rule reads); commit interval {o.commit_intervals_ms[0]} ms, "
            f"batch wait {o.batch_waits_ms[0]} ms. "
            "(a): at least once, no transactions, linger.ms=5. (b): at_least_once, Faust "
            "defaults, no detectors, writes only the decisions (no revocations, escalations "
            "or audit), so it does less work than the pipeline.",
            "Throughput: from the first output to the N-th, by the records' timestamps: the "
            "bench creates each output topic with message.timestamp.type=LogAppendTime, so "
            "every scenario is timed by the broker's clock when it appended the output "
            "(neither the reader's pace nor the transaction commit moves them). ClickHouse: "
            "from the first decision's timestamp to the latest `recorded_at` (set by "
            "ClickHouse at insert) once `count() FINAL` reached N, queried through the "
            "worker's endpoint.",
            "Latency: wall clock when a `read_committed` reader (fetch.wait.max.ms=10) "
            "received the decision minus the event's `occurred_at`, stamped when the "
            "publisher (linger.ms=0) sent it; same host clock; millisecond timestamps make "
            f"it up to 1 ms high. {o.latency_seconds:g} s per load, after a warm-up, on a "
            "caught-up worker. A decision is visible only once the transaction holding it "
            "commits: the notes split each row into event to `decided_at` (in the worker) and "
            "`decided_at` to received (transaction commit and delivery). A load above what "
            "the worker sustains builds a backlog; its events are waited for and count as "
            "late, not lost. The floor rows send the same loads through the same publisher "
            "and reader with no worker between them: what the machine, the broker and the "
            "benchmark process add to every latency figure.",
            "CPU: share of one core used by the process under test and by the broker between "
            "its first and N-th output (2 cores: 200 % at most).",
            f"Figures are medians of {self.runs} run(s); lost and doubled are summed over runs.",
        ]
        startups = [
            f"{row.scenario.split(':')[0]} {row.startup:.1f} s"
            for row in self.rows
            if row.startup is not None and row.kind != "pipeline-audit"
        ]
        if startups:
            notes.append("Start to first output (not in the rates): " + "; ".join(startups) + ".")
        for detectors, (same, total) in self.agreement.items():
            why = (
                " (the others are events the access detector's scores make the `anomaly.*` "
                "rule escalate, which the naive app, without detectors, cannot)"
                if detectors != "none" and same < total
                else ""
            )
            notes.append(
                f"Naive (b) and pipeline (detectors {detectors}) decisions agree (effect and "
                f"rule ids) on {same:,} of {total:,} events{why}."
            )
        notes.extend(f"{row.scenario}: {row.remarks()}." for row in self.rows if row.remarks())
        return notes

    def markdown(self) -> str:
        """The docs section: heading, command, machine, table, targets and notes."""
        lines = [
            "## Pipeline: throughput and latency (`clearance bench`)",
            "",
            f"`{self.options.command()}` on {self.started_at} ({self.seconds / 60:.0f} min).",
            "",
            self.machine + ".",
            "",
            self.table(),
            "",
            *(["**Failed** (not in the table):", ""] if self.failures else []),
            *(f"- {failure}" for failure in self.failures),
            *([""] if self.failures else []),
            "Targets (reported, not asserted):",
            "",
            *(f"- {line}" for line in self.targets()),
            "",
            "Notes:",
            "",
            *(f"- {note}" for note in self.notes()),
        ]
        return "\n".join(lines) + "\n"
