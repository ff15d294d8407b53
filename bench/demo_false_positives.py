"""How often the cold-start access model escalates ordinary demo traffic, and an injected burst.

Replays `clearance demo` traffic (:class:`clearance.traffic.TrafficGenerator`, 200 events/s,
keyed to 4 partitions as the worker keys them) through
:class:`clearance.streams.risk.AccessRisk` with the cold-start model, in batches of 500, and
counts the events whose access score reaches the default pack's escalation threshold (0.9,
rule ``anomaly.access.high_risk.approval``) and the ``unusual`` label (0.5), per slice of
the run. Then one demo principal, after that ordinary work, runs a burst: for one minute ten
times its usual rate (750 reads; demo principals do about 75 a minute) of datasets it never
touched, from a new address, each 2,000 times its usual volume; the report gives the share
of the burst that reaches 0.9 and 0.5.

Run: ``.venv/bin/python -m clearance.bench.demo_false_positives [--minutes 10] [--seeds 3]``
"""

from __future__ import annotations

import argparse
from typing import Any

from clearance.detectors import cold_start_model
from clearance.streams.risk import AccessRisk
from clearance.traffic import TrafficGenerator

from ._produce import partition_for

ESCALATE = 0.9
UNUSUAL = 0.5
RATE = 200
BATCH = 500
PARTITIONS = 4
BASE_MS = 1_790_000_000_000


def _partition(event: dict[str, Any]) -> int:
    return partition_for(event["principal"]["id"].encode(), PARTITIONS)


def _burst(template: dict[str, Any], at_ms: int, size: int = 750) -> list[dict[str, Any]]:
    return [
        {
            **template,
            "event_id": f"burst-{i}",
            "occurred_at": at_ms + 60_000 * i // size,
            "action": "data.read",
            "resource": {
                "type": "dataset",
                "id": f"warehouse-{i}",
                "environment": "prod",
                "sensitivity": "internal",
            },
            "source": "203.0.113.9",
            "data_bytes": 2000 * int(template.get("data_bytes") or 1_000_000),
        }
        for i in range(size)
    ]


def run(seed: int, minutes: int, slices: int = 5) -> dict[str, Any]:
    """Scores of ``minutes`` of demo traffic and of one injected burst after it."""
    generator = TrafficGenerator(seed=seed)
    count = minutes * 60 * RATE
    events = [generator.event(now_ms=BASE_MS + i * 1000 // RATE) for i in range(count)]
    risk = AccessRisk(cold_start_model())
    scores: list[float] = []
    for i in range(0, count, BATCH):
        batch = events[i : i + BATCH]
        scores.extend(
            a.scores["access"] for a in risk.assess(batch, [_partition(e) for e in batch])
        )
    per_slice = []
    size = count // slices
    for s in range(slices):
        part = scores[s * size : (s + 1) * size]
        per_slice.append(sum(v >= ESCALATE for v in part) / len(part))
    # The burst comes from the busiest kind of principal, a data-reading agent.
    template = next(e for e in reversed(events) if e["action"] == "data.read")
    burst = _burst(template, BASE_MS + count * 1000 // RATE + 1000)
    burst_scores = [
        a.scores["access"] for a in risk.assess(burst, [_partition(template)] * len(burst))
    ]
    return {
        "events": count,
        "escalate": sum(v >= ESCALATE for v in scores) / count,
        "unusual": sum(v >= UNUSUAL for v in scores) / count,
        "slices": per_slice,
        "burst": sum(v >= ESCALATE for v in burst_scores) / len(burst_scores),
        "burst_unusual": sum(v >= UNUSUAL for v in burst_scores) / len(burst_scores),
        "principal": template["principal"]["id"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"cold-start access model on {args.minutes} min of demo traffic at {RATE} events/s, "
        f"{PARTITIONS} partitions; share of events scored >= {ESCALATE} (escalated by the "
        f"default pack) and >= {UNUSUAL} (unusual); per {args.minutes // 5 or 1}-minute slice; "
        "then an injected burst (10x the principal's rate for a minute)"
    )
    for seed in range(args.seeds):
        r = run(seed, args.minutes)
        slices = " ".join(f"{v:.2%}" for v in r["slices"])
        print(
            f"  seed {seed}: {r['events']:,} events, escalated {r['escalate']:.2%}, unusual "
            f"{r['unusual']:.2%}; by slice {slices}; burst by {r['principal']}: "
            f"{r['burst']:.0%} escalated, {r['burst_unusual']:.0%} unusual"
        )


if __name__ == "__main__":
    main()
