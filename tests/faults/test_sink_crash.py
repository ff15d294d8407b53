"""Fault: the audit sink is killed with SIGKILL mid-stream, then started again.

A deciding worker runs without a sink; `clearance audit sink` runs alone on the embedded store.
Once the sink has committed part of the decisions it is killed, mid-batch as it happens, and
started again on the same store. Whatever it had inserted but not committed comes again and
must not make a second row.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from faults._harness import (
    audit_counts,
    committed_offsets,
    produce_events,
    read_committed,
    report,
    sigkill,
    wait_for_audit_rows,
    wait_for_topic,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EVENTS = int(os.environ.get("CLEARANCE_FAULT_SINK_EVENTS", "60000"))


def test_sigkill_of_the_audit_sink_loses_and_doubles_no_row(
    clearance_env: dict[str, str], start_clearance: Any, wait_for: Any
) -> None:
    env = dict(
        clearance_env,
        CLEARANCE_TOPIC_PARTITIONS="4",
        CLEARANCE_LOG_LEVEL="warn",
        # small batches: the kill lands between many inserts and commits
        CLEARANCE_AUDIT_BATCH_ROWS="1000",
    )
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    worker = start_clearance(["worker", "--no-audit-sink"], env)
    sink = start_clearance(["audit", "sink"], env)
    wait_for_topic(bootstrap, f"{prefix}actions")
    ids = produce_events(bootstrap, f"{prefix}actions", EVENTS)

    def sink_committed() -> int:
        offsets = committed_offsets(
            bootstrap, env["CLEARANCE_AUDIT_GROUP"], f"{prefix}decisions", 4
        )
        return sum(max(0, offset) for offset in offsets.values())

    wait_for(lambda: sink_committed() >= EVENTS // 4, 300, interval=0.5, what="sink progress")
    before_kill = sink_committed()
    sigkill(sink.process)
    restarted = start_clearance(["audit", "sink"], env)

    topic = read_committed(bootstrap, f"{prefix}decisions", len(ids), timeout=600)
    wait_for_audit_rows(env, len(ids), timeout=300)
    time.sleep(3)  # a late redelivery would land now
    audit = audit_counts(env)
    line = report(f"audit sink SIGKILL after {before_kill} committed", ids, topic, audit)
    assert worker.alive() and restarted.alive()
    assert "lost_on_topic=0 " in line and "doubled_on_topic=0 " in line, line
    assert "lost_in_clickhouse=0 " in line and line.endswith("doubled_in_clickhouse=0"), line
