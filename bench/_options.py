"""The options of ``clearance bench``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_DOCS", "SCENARIOS", "BenchOptions", "parse_options"]

SCENARIOS = ("ceiling", "faust-floor", "naive", "throughput", "latency")
DETECTORS = ("access", "none")
DEFAULT_DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class BenchOptions:
    """What one ``clearance bench`` run does; see ``clearance bench --help``."""

    events: int = 200_000
    rates: tuple[int, ...] = (1_000, 5_000)
    latency_seconds: float = 20.0
    commit_intervals_ms: tuple[int, ...] = (200,)
    batch_waits_ms: tuple[int, ...] = (20,)
    detectors: tuple[str, ...] = DETECTORS
    repeat: int = 1
    scenarios: tuple[str, ...] = SCENARIOS
    rules: int = 50
    partitions: int = 4
    seed: int = 7
    bootstrap: str | None = None
    port: int = 19192
    data_dir: Path | None = None
    stop_broker: bool = False
    write_docs: bool = False
    docs: Path = DEFAULT_DOCS

    def command(self) -> str:
        """The ``clearance bench`` command line that repeats this run's measurements."""
        parts = [
            f"--events {self.events}",
            "--rates " + ",".join(str(r) for r in self.rates),
            f"--latency-seconds {self.latency_seconds:g}",
            "--commit-intervals " + ",".join(str(ms) for ms in self.commit_intervals_ms),
            "--batch-waits " + ",".join(str(ms) for ms in self.batch_waits_ms),
            "--detectors " + ",".join(self.detectors),
            f"--repeat {self.repeat}",
        ]
        if self.scenarios != SCENARIOS:
            parts.append("--scenarios " + ",".join(self.scenarios))
        return "clearance bench " + " ".join(parts)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers"
        ) from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive integers, e.g. 1000,5000")
    return values


def _choices(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}"
            )
        return names

    return parse


def parse_options(argv: list[str] | None = None) -> BenchOptions:
    """Parse ``clearance bench`` arguments (``--help`` lists them)."""
    default = BenchOptions()
    parser = argparse.ArgumentParser(
        prog="clearance bench",
        description="Throughput and latency of the pipeline on a real broker, with baselines. "
        "Results go to stdout as Markdown; --write-docs also puts them in docs/benchmarks.md.",
    )
    add = parser.add_argument
    add("--events", type=int, default=default.events, help="N events pre-produced (200000).")
    add("--rates", type=_int_list, default=default.rates, help="Offered loads, events/s.")
    add("--latency-seconds", type=float, default=default.latency_seconds, help="Per load.")
    add(
        "--commit-intervals",
        type=_int_list,
        default=default.commit_intervals_ms,
        help="CLEARANCE_COMMIT_INTERVAL_MS values (ms) to measure latency at; the first one "
        "is also used for throughput (200).",
    )
    add(
        "--batch-waits",
        type=_int_list,
        default=default.batch_waits_ms,
        help="CLEARANCE_BATCH_WAIT_MS values (ms) to measure latency at, each with every "
        "commit interval; the first one is also used for throughput (20).",
    )
    add(
        "--detectors",
        type=_choices(DETECTORS),
        default=default.detectors,
        help="CLEARANCE_DETECTORS values to measure throughput at; the first one is the "
        "headline and is used for latency (access,none).",
    )
    add("--repeat", type=int, default=default.repeat, help="Runs; the table shows medians.")
    add(
        "--scenarios",
        type=_choices(SCENARIOS),
        default=default.scenarios,
        help="Any of " + ",".join(SCENARIOS) + " (all).",
    )
    add("--skip-baselines", action="store_true", help="Leave out ceiling, faust-floor and naive.")
    add("--rules", type=int, default=default.rules, help="Rules in the pack (50).")
    add("--partitions", type=int, default=default.partitions, help="Partitions per topic (4).")
    add("--seed", type=int, default=default.seed, help="Traffic seed.")
    add("--bootstrap", help="Use this broker instead of starting the bench broker.")
    add("--port", type=int, default=default.port, help="Port of the bench broker (19192).")
    add("--data-dir", type=Path, help="Default: CLEARANCE_DATA_DIR (bench-kafka, bench-runs).")
    add("--stop-broker", action="store_true", help="Stop the bench broker at the end.")
    add("--write-docs", action="store_true", help="Update the section in the docs file.")
    add("--docs", type=Path, default=default.docs, help="Docs file (docs/benchmarks.md).")
    args = parser.parse_args(argv)
    if args.events < 2 or args.repeat < 1 or args.latency_seconds <= 0 or args.partitions < 1:
        parser.error(
            "--events must be >= 2, --repeat >= 1, --partitions >= 1, --latency-seconds > 0"
        )
    scenarios = tuple(
        name
        for name in args.scenarios
        if not (args.skip_baselines and name in ("ceiling", "faust-floor", "naive"))
    )
    return BenchOptions(
        events=args.events,
        rates=args.rates,
        latency_seconds=args.latency_seconds,
        commit_intervals_ms=args.commit_intervals,
        batch_waits_ms=args.batch_waits,
        detectors=args.detectors,
        repeat=args.repeat,
        scenarios=scenarios,
        rules=args.rules,
        partitions=args.partitions,
        seed=args.seed,
        bootstrap=args.bootstrap,
        port=args.port,
        data_dir=args.data_dir,
        stop_broker=args.stop_broker,
        write_docs=args.write_docs,
        docs=args.docs,
    )
