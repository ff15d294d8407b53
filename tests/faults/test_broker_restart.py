"""Fault: the broker is restarted mid-stream.

The test runs its own single-node broker (not the session's), with a deciding worker and the
audit sink on it. Part-way through the stream the broker stops and starts again; more events
follow the restart. Every event must still get exactly one decision and one audit row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ports import free_port
from faults._harness import (
    audit_counts,
    produce_events,
    read_committed,
    report,
    wait_for_audit_rows,
    wait_for_decisions,
    wait_for_topic,
)

from clearance.localkafka import LocalKafka

pytestmark = [pytest.mark.integration, pytest.mark.faults]

EVENTS = int(os.environ.get("CLEARANCE_FAULT_RESTART_EVENTS", "60000"))


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    broker = LocalKafka(data_dir=tmp_path / "own-kafka", port=free_port())
    broker.up(timeout=180)
    yield broker
    broker.down()


def test_broker_restart_loses_and_doubles_nothing(
    clearance_env: dict[str, str], start_clearance: Any, own_broker: LocalKafka
) -> None:
    env = dict(
        clearance_env,
        CLEARANCE_KAFKA_BOOTSTRAP=own_broker.bootstrap,
        CLEARANCE_TOPIC_PARTITIONS="4",
        CLEARANCE_LOG_LEVEL="warn",
    )
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = own_broker.bootstrap
    worker = start_clearance(["worker"], env)
    wait_for_topic(bootstrap, f"{prefix}actions")
    ids = produce_events(bootstrap, f"{prefix}actions", EVENTS // 2, seed=7)
    seen = wait_for_decisions(bootstrap, f"{prefix}decisions", EVENTS // 8, timeout=300)
    assert seen >= EVENTS // 8, "decisions did not start flowing"
    own_broker.restart(timeout=180)
    ids |= produce_events(bootstrap, f"{prefix}actions", EVENTS // 2, seed=8)
    assert len(ids) == EVENTS

    topic = read_committed(bootstrap, f"{prefix}decisions", len(ids), timeout=600)
    wait_for_audit_rows(env, len(ids), timeout=300)
    audit = audit_counts(env)
    line = report(f"broker restart after ~{seen} decisions", ids, topic, audit)
    assert worker.alive(), worker.log()[-3000:]
    assert "lost_on_topic=0 " in line and "doubled_on_topic=0 " in line, line
    assert "lost_in_clickhouse=0 " in line and line.endswith("doubled_in_clickhouse=0"), line
