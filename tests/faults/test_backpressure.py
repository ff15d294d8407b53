"""Backpressure: when the audit store or the output topic slows down, consumption slows
instead of memory filling up.

- A slow audit store (every insert takes 2 s, through the store drill) under a worker that
  runs the sink in its own process: decisions pile up on Kafka, not in the worker; its RSS
  stays flat while the sink falls tens of thousands of decisions behind.
- A throttled output topic (a broker quota of 200 KB/s on producers): the deciding worker
  cannot publish faster, so it consumes slower; its RSS stays flat while most of the input
  waits on Kafka. After the quota is lifted every event has exactly one decision.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults._harness import (
    RssSampler,
    audit_query,
    committed_offsets,
    count_messages,
    produce_events,
    read_committed,
    report,
)

from clearance.localkafka import LocalKafka

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EVENTS = int(os.environ.get("CLEARANCE_FAULT_BACKPRESSURE_EVENTS", "150000"))
WINDOW_S = 60.0
WARM_UP_S = 15.0
# Growth allowed from the first half of the window to the second: far less than what
# buffering the backlog would take (tens of thousands of decoded events and decisions).
GROWTH_LIMIT_MIB = 48.0
RSS_LIMIT_MIB = 700.0


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
    drill.write_text("slow:2")
    env = dict(
        clearance_env,
        CLEARANCE_TOPIC_PARTITIONS="4",
        CLEARANCE_LOG_LEVEL="warn",
        CLEARANCE_AUDIT_DRILL_FILE=str(drill),
    )
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    worker = start_clearance(["worker"], env)
    time.sleep(5)
    with RssSampler(worker.process.pid) as sampler:
        produce_events(bootstrap, f"{prefix}actions", EVENTS, seed=31)
        time.sleep(max(0.0, WINDOW_S - sampler.samples[-1][0] if sampler.samples else WINDOW_S))
    on_topic = count_messages(bootstrap, f"{prefix}decisions")
    stored = int(audit_query(env, "SELECT count() AS n FROM clearance.decisions")[0]["n"])
    print(f"\n[slow audit store] decisions on Kafka {on_topic}, rows stored {stored}")
    assert worker.alive()
    assert on_topic - stored > EVENTS // 3, "the store was not the bottleneck"
    assert_flat(sampler, "worker with audit sink")


@pytest.fixture
def producer_quota(kafka: LocalKafka) -> Iterator[Any]:
    """``set(bytes_per_s)``: a broker quota on every producer; lifted at the end."""

    def config(*args: str) -> None:
        subprocess.run(
            [
                "java",
                "-Xmx256m",
                "-cp",
                kafka.classpath(),
                "kafka.admin.ConfigCommand",
                "--bootstrap-server",
                kafka.bootstrap,
                "--entity-type",
                "clients",
                "--entity-default",
                "--alter",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    yield lambda rate: config("--add-config", f"producer_byte_rate={rate}")
    config("--delete-config", "producer_byte_rate")


def test_throttled_output_topic_slows_consumption(
    clearance_env: dict[str, str], start_clearance: Any, producer_quota: Any
) -> None:
    env = dict(clearance_env, CLEARANCE_TOPIC_PARTITIONS="4", CLEARANCE_LOG_LEVEL="warn")
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    events = EVENTS // 2
    ids = produce_events(bootstrap, f"{prefix}actions", events, seed=32)
    producer_quota(200_000)
    worker = start_clearance(["worker", "--no-audit-sink"], env)
    with RssSampler(worker.process.pid) as sampler:
        time.sleep(WINDOW_S)
    consumed = sum(
        max(0, offset)
        for offset in committed_offsets(
            bootstrap, env["CLEARANCE_APP_ID"], f"{prefix}actions", 4
        ).values()
    )
    print(f"\n[throttled output] after {WINDOW_S:.0f} s: {consumed} of {events} events consumed")
    assert worker.alive()
    assert consumed < events // 2, "the quota did not slow the worker"
    assert_flat(sampler, "deciding worker")

    producer_quota(100_000_000)
    topic = read_committed(bootstrap, f"{prefix}decisions", len(ids), timeout=600)
    line = report("throttled output topic, then lifted", ids, topic, None)
    assert "lost_on_topic=0 " in line and line.endswith("doubled_on_topic=0"), line
