"""Fault: the audit store is unreachable for 30 seconds.

No ClickHouse server runs here, so the embedded store's writer fails the way a lost server
does, through the store drill (``CLEARANCE_AUDIT_DRILL_FILE``): first a few seconds in which
inserts land but their answer is lost (the sink must retry without making second rows), then
30 s in which every insert is refused. Decisions keep flowing to Kafka meanwhile; the sink must
commit no offset while its batch is not stored, and afterwards catch up with nothing lost or
doubled.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from faults._harness import (
    audit_counts,
    committed_offsets,
    count_messages,
    produce_events,
    read_committed,
    report,
    wait_for_audit_rows,
    wait_for_topic,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EVENTS = int(os.environ.get("CLEARANCE_FAULT_OUTAGE_EVENTS", "40000"))
OUTAGE_S = 30.0


def test_audit_store_outage_of_30_s_loses_and_doubles_no_row(
    clearance_env: dict[str, str], start_clearance: Any, wait_for: Any, tmp_path: Path
) -> None:
    drill = tmp_path / "store-drill"
    env = dict(
        clearance_env,
        CLEARANCE_TOPIC_PARTITIONS="4",
        CLEARANCE_LOG_LEVEL="warn",
        CLEARANCE_AUDIT_DRILL_FILE=str(drill),
    )
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    group = env["CLEARANCE_AUDIT_GROUP"]
    decisions = f"{prefix}decisions"
    worker = start_clearance(["worker"], env)
    wait_for_topic(bootstrap, f"{prefix}actions")
    ids = produce_events(bootstrap, f"{prefix}actions", EVENTS // 2, seed=21)
    wait_for_audit_rows(env, EVENTS // 8, timeout=300)

    drill.write_text("lost-response")
    time.sleep(5)
    drill.write_text("unreachable")
    outage_started = time.monotonic()
    time.sleep(2)  # a commit for a batch stored before the outage may still be under way
    committed_at_start = committed_offsets(bootstrap, group, decisions, 4)
    on_topic_at_start = count_messages(bootstrap, decisions)
    # Decisions keep coming while the store is down: the decision path does not wait on it.
    ids |= produce_events(bootstrap, f"{prefix}actions", EVENTS // 2, seed=22)
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))
    committed_at_end = committed_offsets(bootstrap, group, decisions, 4)
    on_topic_at_end = count_messages(bootstrap, decisions)
    drill.write_text("")

    topic = read_committed(bootstrap, decisions, len(ids), timeout=600)
    wait_for_audit_rows(env, len(ids), timeout=300)
    audit = audit_counts(env)
    line = report(f"audit store unreachable for {OUTAGE_S:.0f} s", ids, topic, audit)
    retries = worker.log().count("not written, retrying")
    print(
        f"during the outage: decisions topic grew {on_topic_at_start} -> {on_topic_at_end}, "
        f"sink committed offsets {committed_at_start} -> {committed_at_end}, "
        f"{retries} failed inserts retried"
    )
    assert on_topic_at_end > on_topic_at_start, "no decisions arrived during the outage"
    assert committed_at_end == committed_at_start, "the sink committed while the store was down"
    assert retries >= 3, "the sink did not hit the outage"
    assert worker.alive()
    assert "lost_on_topic=0 " in line and "doubled_on_topic=0 " in line, line
    assert "lost_in_clickhouse=0 " in line and line.endswith("doubled_in_clickhouse=0"), line
