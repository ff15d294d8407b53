"""Backpressure: when the audit store or the output topic slows down, consumption slows
instead of memory filling up.

- A slow audit store (every insert takes 5 s, through the store drill) under a worker that
  runs the sink in its own process: decisions pile up on Kafka, not in the worker; its RSS
  stays flat while the sink falls tens of thousands of decisions behind.
- A stalled output topic (the broker refuses writes to the decisions topic for 25 s, as when
  it is short of in-sync replicas): the deciding worker cannot publish, so it stops consuming;
  its RSS stays flat while the input waits on Kafka. Afterwards every event has exactly one
  decision.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from faults._harness import (
    RssSampler,
    audit_query,
    count_messages,
    produce_events,
    read_committed,
    report,
    wait_for_decisions,
    wait_for_topic,
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
# Below aiokafka's 40 s request timeout, after which a send fails and the agent stops.
STALL_S = 25.0


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
    worker = start_clearance(["worker"], env)
    wait_for_topic(bootstrap, f"{prefix}actions")
    with RssSampler(worker.process.pid) as sampler:
        produce_events(bootstrap, f"{prefix}actions", EVENTS, seed=31)
        time.sleep(max(0.0, WINDOW_S - sampler.samples[-1][0] if sampler.samples else WINDOW_S))
    on_topic = count_messages(bootstrap, f"{prefix}decisions")
    stored = int(audit_query(env, "SELECT count() AS n FROM clearance.decisions")[0]["n"])
    print(f"\n[slow audit store] decisions on Kafka {on_topic}, rows stored {stored}")
    assert worker.alive()
    assert on_topic - stored > EVENTS // 5, "the store was not the bottleneck"
    assert_flat(sampler, "worker with audit sink")


@pytest.fixture
def stall_topic(kafka: LocalKafka) -> Iterator[Any]:
    """``stall(topic, on)``: while on, the broker refuses writes to ``topic`` as a topic short
    of in-sync replicas does (min.insync.replicas 2 on one broker; producers retry)."""
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    stalled: set[str] = set()

    def stall(topic: str, on: bool) -> None:
        op = AlterConfigOpType.SET if on else AlterConfigOpType.DELETE
        entry = ConfigEntry("min.insync.replicas", "2", incremental_operation=op)
        resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(timeout=30)
        (stalled.add if on else stalled.discard)(topic)

    yield stall
    for topic in list(stalled):
        stall(topic, False)


def test_stalled_output_topic_stops_consumption_not_memory(
    clearance_env: dict[str, str], start_clearance: Any, stall_topic: Any
) -> None:
    env = dict(clearance_env, CLEARANCE_TOPIC_PARTITIONS="4", CLEARANCE_LOG_LEVEL="warn")
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    decisions = f"{prefix}decisions"
    events = EVENTS // 2
    worker = start_clearance(["worker", "--no-audit-sink"], env)
    wait_for_topic(bootstrap, f"{prefix}actions")
    ids = produce_events(bootstrap, f"{prefix}actions", events, seed=32)
    with RssSampler(worker.process.pid) as sampler:
        wait_for_decisions(bootstrap, decisions, events // 10, timeout=300)
        stall_topic(decisions, True)
        stalled_at = sampler.samples[-1][0] if sampler.samples else 0.0
        on_topic_before = count_messages(bootstrap, decisions)
        time.sleep(STALL_S)
        on_topic_after = count_messages(bootstrap, decisions)
        stall_topic(decisions, False)
    before = sampler.mib(0, stalled_at)
    during = sampler.mib(stalled_at + 2)
    summary = (
        f"\n[stalled output topic] {STALL_S:.0f} s without writes to {decisions}: topic "
        f"{on_topic_before} -> {on_topic_after} messages; deciding worker RSS MiB before the "
        f"stall max {max(before):.0f}, during max {max(during):.0f}; timeline "
        f"{sampler.timeline(5)}"
    )
    print(summary)
    assert worker.alive(), worker.log()[-3000:]
    assert on_topic_after - on_topic_before < 5000, "the stall did not hold the decisions back"
    assert max(during) - max(before) < GROWTH_LIMIT_MIB, summary

    topic = read_committed(bootstrap, decisions, len(ids), timeout=600)
    line = report("stalled output topic, then released", ids, topic, None)
    assert "lost_on_topic=0 " in line and line.endswith("doubled_on_topic=0"), line
