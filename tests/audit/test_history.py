"""action_history() and `clearance detectors train`: a model from the audit trail."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clearance.audit import AuditWriter, action_history, connect, decision_row, migrate
from clearance.detectors import ACCESS_FEATURES, AccessModel, ProfileStore, generate_workload

DecisionFactory = Callable[..., dict[str, Any]]


def _record(dsn: str, events: list[dict[str, Any]], make_decision: DecisionFactory) -> None:
    client = connect(dsn)
    migrate(client)
    rows = [
        decision_row(
            make_decision(
                n,
                event_id=e["event_id"],
                occurred_at=e["occurred_at"],
                decided_at=e["occurred_at"] + 5,
                principal=e["principal"],
                action=e["action"],
                resource=e["resource"],
                session_id=e.get("session_id"),
            ),
            0,
            n,
        )
        for n, e in enumerate(events)
    ]
    AuditWriter(client).write_decisions(rows, "history")
    client.close()


def _train(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CLEARANCE_CLICKHOUSE_DSN=dsn)
    return subprocess.run(
        [sys.executable, "-m", "clearance.cli", "detectors", "train", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_history_comes_back_oldest_first_as_action_events(
    store_dsn: str, make_decision: DecisionFactory
) -> None:
    events = generate_workload(seed=3, days=2, test_days=1, incidents=0).events[:300]
    _record(store_dsn, list(reversed(events)), make_decision)
    history = action_history(store_dsn)
    assert [e["event_id"] for e in history] == [e["event_id"] for e in events]
    first, original = history[0], events[0]
    assert first["occurred_at"] == original["occurred_at"]
    assert first["principal"]["roles"] == original["principal"]["roles"]
    assert first["resource"] == {k: original["resource"][k] for k in first["resource"]}
    assert first["source"] is None and first["data_bytes"] is None
    assert [e["event_id"] for e in action_history(store_dsn, limit=10)] == [
        e["event_id"] for e in events[-10:]
    ]


def test_train_saves_a_model_loadable_with_its_version_and_features(
    store_dsn: str, make_decision: DecisionFactory, tmp_path: Path
) -> None:
    events = generate_workload(seed=4, days=7, test_days=1, incidents=0).events
    _record(store_dsn, events, make_decision)
    out = tmp_path / "access.joblib"
    result = _train(store_dsn, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"CLEARANCE_ACCESS_MODEL_PATH={out}" in result.stdout
    model = AccessModel.load(out)
    assert model.kind == "trained" and model.feature_names == ACCESS_FEATURES
    assert model.model_version in result.stdout
    assert 0 < model.training_size <= len(events)
    scores = model.score_events(events[-200:], ProfileStore())
    assert all(0.0 <= s.value <= 1.0 for s in scores)


def test_train_refuses_too_little_history_naming_the_fix(
    store_dsn: str, make_decision: DecisionFactory, tmp_path: Path
) -> None:
    events = generate_workload(seed=5, days=2, test_days=1, incidents=0).events[:120]
    _record(store_dsn, events, make_decision)
    out = tmp_path / "access.joblib"
    result = _train(store_dsn, "--out", str(out))
    assert result.returncode == 1
    assert "only 120 action decisions" in result.stderr and "--min-events" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
