"""Backpressure: when the audit store slows down, the backlog stays on Kafka instead of
filling the audit sink's memory.

A slow audit store (every insert takes 5 s, through the store drill) under `clearance audit
sink` in its own process, beside a deciding worker without a sink: decisions pile up on
Kafka, not in the sink; the sink's RSS stays flat while it falls tens of thousands of
decisions behind. The sink is measured alone because the worker's memory grows for a reason
of its own: every escalation it opens is state it keeps until the escalation is decided or
times out (15 minutes in the default pack), whatever the store does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from faults._harness import (
    RssSampler,
    audit_query,
    count_messages,
    produce_events,
    wait_for_topic,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EVENTS = int(os.environ.get("CLEARANCE_FAULT_BACKPRESSURE_EVENTS", "150000"))
WINDOW_S = 60.0
WARM_UP_S = 15.0
# Growth allowed from the first half of the window to the second: far less than what
# buffering the backlog would take (tens of thousands of decoded events and decisions).
GROWTH_LIMIT_MIB = 48.0
# The sink's footprint with the embedded ClickHouse engine loaded: 630-715 MiB measured on
# CI's machine while flat (the engine's allocator moves by tens of MiB between inserts), so
# the cap leaves room for that, and not for a backlog held in memory.
RSS_LIMIT_MIB = 800.0


def assert_flat(sampler: RssSampler, what: str) -> str:
    half = WARM_UP_S + (WINDOW_S - WARM_UP_S) / 2
    first, second = sampler.mib(WARM_UP_S, half), sampler.mib(half)
    assert first and second, f"too few RSS samples of {what}"
    summary = (
        f"{what} RSS MiB: first half max {max(first):.0f}, second half max {max(second):.0f}, "
        f"timeline {sampler.timeline()}"
    )
    print(summary)
    assert max(second) - max(first) < GROWTH_LIMIT_MIB, summary
    assert max(second) < RSS_LIMIT_MIB, summary
    return summary


def test_slow_audit_store_keeps_the_backlog_on_kafka(
    clearance_env: dict[str, str], start_clearance: Any, tmp_path: Path
) -> None:
    drill = tmp_path / "store-drill"
    drill.write_text("slow:5")
    env = dict(
        clearance_env,
        CLEARANCE_TOPIC_PARTITIONS="4",
        CLEARANCE_LOG_LEVEL="warn",
        CLEARANCE_AUDIT_DRILL_FILE=str(drill),
    )
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    worker = start_clearance(["worker", "--no-audit-sink"], env)
    wait_for_topic(bootstrap, f"{prefix}actions")
    sink = start_clearance(["audit", "sink"], env)
    with RssSampler(sink.process.pid) as sampler:
        produce_events(bootstrap, f"{prefix}actions", EVENTS, seed=31)
        time.sleep(max(0.0, WINDOW_S - sampler.samples[-1][0] if sampler.samples else WINDOW_S))
    on_topic = count_messages(bootstrap, f"{prefix}decisions")
    stored = int(audit_query(env, "SELECT count() AS n FROM clearance.decisions")[0]["n"])
    print(f"\n[slow audit store] decisions on Kafka {on_topic}, rows stored {stored}")
    assert worker.alive() and sink.alive()
    assert on_topic - stored > EVENTS // 5, "the store was not the bottleneck"
    assert_flat(sampler, "audit sink")
