"""Fixtures for the audit tests: a fresh embedded store per test and Decision records.

chDB hosts one store path per process and shuts its engine down when the last client of
that path closes; each test therefore closes every client it opens, so the next test can
open its own store under its own tmp_path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clearance.audit import connect, migrate

DecisionFactory = Callable[..., dict[str, Any]]

_BASE_DECISION: dict[str, Any] = {
    "decision_id": "dec-0",
    "event_id": "evt-0",
    "event_kind": "action",
    "decided_at": 1_767_225_600_123,  # 2026-01-01 00:00:00.123 UTC
    "occurred_at": 1_767_225_599_900,
    "principal": {
        "id": "agent-7",
        "type": "agent",
        "roles": ["deployer", "reader"],
        "on_behalf_of": "alice",
    },
    "action": "cluster.scale",
    "resource": {
        "type": "cluster",
        "id": "payments-eu",
        "environment": "prod",
        "sensitivity": "restricted",
    },
    "session_id": "sess-1",
    "effect": "deny",
    "rule_ids": ["prod-freeze", "agent-needs-approval"],
    "reasons": ["production is frozen", "agents need approval in prod"],
    "severity": "high",
    "policy_version": "sha256:abc",
    "detector_scores": {"rate": 0.25, "novelty": 0.9},
    "explanations": ["first scale action by this agent"],
    "escalation_id": None,
    "approvers": [],
    "grant_id": None,
    "grant_expires_at": None,
    "latency_ms": 1.5,
    "source_topic": "clearance.actions",
    "source_partition": 3,
    "source_offset": 41,
}


@pytest.fixture
def make_decision() -> DecisionFactory:
    """Return ``f(n=0, **overrides)``: decision number n (ids dec-n / evt-n), fields overridden."""

    def factory(n: int = 0, **overrides: Any) -> dict[str, Any]:
        decision = copy.deepcopy(_BASE_DECISION)
        decision["decision_id"] = f"dec-{n}"
        decision["event_id"] = f"evt-{n}"
        decision["source_offset"] = n
        decision.update(overrides)
        return decision

    return factory


@pytest.fixture
def store_dsn(tmp_path: Path) -> str:
    """A chdb:// DSN for a store that does not exist yet."""
    return f"chdb://{tmp_path / 'audit-store'}"


def stop_merges(client: Client) -> None:
    """Keep stored rows as inserted, so raw (non-FINAL) counts are deterministic.

    Background merges collapse small parts within a second or two, at no fixed time; a test
    that counts duplicates before a merge would otherwise pass or fail by chance.
    """
    for table in ("decisions", "dead_letters"):
        client.command(f"SYSTEM STOP MERGES clearance.{table}")


@pytest.fixture
def client(store_dsn: str) -> Iterator[Client]:
    """A writable client on a freshly migrated embedded store, closed after the test."""
    opened = connect(store_dsn)
    try:
        migrate(opened)
        stop_merges(opened)
        yield opened
    finally:
        opened.close()
