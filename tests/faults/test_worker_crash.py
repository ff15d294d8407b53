"""Fault: a deciding worker is killed with SIGKILL mid-stream.

Three deciding workers share the consumer group (one of them also runs the audit sink). While
they process the events, one worker without the sink is killed; the survivors take over its
partitions. A second test lets a fourth worker join before the kill, so that two rebalances
move partitions while events flow. Afterwards every event id must have exactly one decision
on the decisions topic (as a read_committed consumer sees it) and exactly one row in
ClickHouse.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from faults._harness import (
    CommitWatcher,
    audit_counts,
    produce_events,
    read_committed,
    report,
    sigkill,
    wait_for_audit_rows,
    wait_for_decisions,
    wait_for_group,
    wait_for_topic,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EVENTS = int(os.environ.get("CLEARANCE_FAULT_EVENTS", "200000"))
LOG_LEVEL = os.environ.get("CLEARANCE_FAULT_LOG_LEVEL", "warn")


def test_sigkill_of_a_worker_loses_and_doubles_no_decision(
    clearance_env: dict[str, str], start_clearance: Any, new_port: Any
) -> None:
    _crash_mid_stream(clearance_env, start_clearance, new_port, join_first=False)


def test_a_worker_joining_then_one_killed_loses_and_doubles_no_decision(
    clearance_env: dict[str, str], start_clearance: Any, new_port: Any
) -> None:
    """Two rebalances close together while events flow: a fourth worker joins once an
    eighth of the events are decided, and one worker is killed at a quarter. A partition
    moves to the newcomer and another moves again at the kill, each picked up from its
    committed offset while the old owner's fetches are still in flight."""
    _crash_mid_stream(clearance_env, start_clearance, new_port, join_first=True)


def _crash_mid_stream(
    clearance_env: dict[str, str], start_clearance: Any, new_port: Any, join_first: bool
) -> None:
    env = dict(clearance_env, CLEARANCE_TOPIC_PARTITIONS="6", CLEARANCE_LOG_LEVEL=LOG_LEVEL)
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    group = env["CLEARANCE_APP_ID"]
    with_sink = start_clearance(["worker"], env)
    victim = start_clearance(
        ["worker", "--no-audit-sink"], dict(env, CLEARANCE_WEB_PORT=new_port())
    )
    third = start_clearance(["worker", "--no-audit-sink"], dict(env, CLEARANCE_WEB_PORT=new_port()))
    survivors = [with_sink, third]
    wait_for_topic(bootstrap, f"{prefix}actions")
    wait_for_group(bootstrap, group, members=3)
    watcher = CommitWatcher(bootstrap, group, f"{prefix}actions", 6)
    with watcher:
        ids = produce_events(bootstrap, f"{prefix}actions", EVENTS)
        if join_first:
            seen = wait_for_decisions(bootstrap, f"{prefix}decisions", EVENTS // 8, timeout=300)
            assert seen >= EVENTS // 8, "decisions did not start flowing"
            survivors.append(
                start_clearance(
                    ["worker", "--no-audit-sink"], dict(env, CLEARANCE_WEB_PORT=new_port())
                )
            )
            wait_for_group(bootstrap, group, members=4)
        # Kill one worker once decisions are flowing, part-way through the stream.
        seen = wait_for_decisions(bootstrap, f"{prefix}decisions", EVENTS // 4, timeout=300)
        assert seen >= EVENTS // 4, "decisions did not start flowing"
        sigkill(victim.process)
        topic = read_committed(bootstrap, f"{prefix}decisions", len(ids), timeout=600)
    inputs = read_committed(bootstrap, f"{prefix}actions", len(ids), 120, codec="ActionEvent")
    assert not inputs.doubled(), "the input itself holds an event twice"
    wait_for_audit_rows(env, len(ids), timeout=300)
    audit = audit_counts(env)
    fault = "a worker joined, then" if join_first else "worker"
    line = report(f"{fault} SIGKILL after ~{seen} decisions", ids, topic, audit)
    print(
        f"input offsets committed by the deciders moved backwards {len(watcher.backwards)} times "
        f"in {watcher.polls} polls: {watcher.backwards[:10]}"
    )
    if topic.doubled():
        print("doubled decisions (output partition@offset, input partition@offset):")
        print(topic.describe_doubles())
    if ids - set(topic.copies):
        print("events without a decision (input partition@offset):")
        print(topic.describe_lost(inputs))
    assert all(worker.alive() for worker in survivors)
    # A committed input offset that goes back re-opens decided events to the next owner.
    assert not watcher.backwards, "committed input offsets moved backwards"
    assert "lost_on_topic=0 " in line and "doubled_on_topic=0 " in line, line
    assert "lost_in_clickhouse=0 " in line and line.endswith("doubled_in_clickhouse=0"), line
