"""Detectors end to end on the real broker and the embedded ClickHouse: an unusual burst by one
principal is escalated, a drifting model is revoked, each with its explanation in the audit."""

from __future__ import annotations

import time
from typing import Any

import pytest

from clearance.schemas import Codec

from ._model_events import lifecycle
from .test_pipeline import audit_query, consume, publish, wait_until_recorded

pytestmark = pytest.mark.integration

PRINCIPAL = "agent:report-bot-1"
HISTORY = 60
BURST = 80


def _action(n: int, at_ms: int, resource: str, source: str, data_bytes: int) -> dict[str, Any]:
    return {
        "event_id": f"e2e-{n}",
        "occurred_at": at_ms,
        "principal": {
            "id": PRINCIPAL,
            "type": "agent",
            "roles": ["reporting"],
            "on_behalf_of": "user:owner-1",
        },
        "action": "data.read",
        "resource": {
            "type": "dataset",
            "id": resource,
            "environment": "prod",
            "sensitivity": "internal",
        },
        "session_id": "s-1",
        "source": source,
        "data_bytes": data_bytes,
        "context": {},
    }


def _habit_then_burst(now_ms: int) -> list[dict[str, Any]]:
    """Three hours of one read every three minutes on three datasets from one address, then
    a burst of reads of warehouse tables it never touched, from a new address, 2,000 times
    the usual volume, within two seconds."""
    start = now_ms - HISTORY * 180_000
    history = [
        _action(i, start + i * 180_000, f"reports-{i % 3}", "10.0.0.1", 200_000 + 1000 * (i % 7))
        for i in range(HISTORY)
    ]
    burst = [
        _action(HISTORY + i, now_ms + 25 * i, f"warehouse-{i}", "203.0.113.9", 400_000_000)
        for i in range(BURST)
    ]
    return history + burst


def test_unusual_burst_is_escalated_and_drifting_model_revoked_with_explanations(
    clearance_env: dict[str, str], start_clearance: Any, wait_for: Any
) -> None:
    env = dict(clearance_env, CLEARANCE_DETECTORS="access")
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    worker = start_clearance(["worker"], env)
    actions = Codec("ActionEvent")
    models = Codec("ModelEvent")
    events = _habit_then_burst(int(time.time() * 1000))
    model_events = lifecycle("churn-e2e", "v3", drift_shift=1.0)
    time.sleep(1)
    publish(
        bootstrap, f"{prefix}actions", [(PRINCIPAL.encode(), actions.encode(e)) for e in events]
    )
    publish(
        bootstrap, f"{prefix}model-events", [(b"churn-e2e", models.encode(e)) for e in model_events]
    )
    wait_until_recorded(env, len(events) + len(model_events), wait_for, "decisions")
    # Started, its tables recovered: the long-lived state left the collector's generations.
    assert "long-lived objects in" in worker.log(), worker.log()

    rows = audit_query(
        env,
        "SELECT event_id, effect, rule_ids, explanations, detector_scores['access'] AS score "
        f"FROM clearance.decisions FINAL WHERE principal_id = '{PRINCIPAL}' ORDER BY occurred_at",
    )
    assert len(rows) == len(events)
    anomaly = "anomaly.access.high_risk.approval"
    settled, burst = rows[HISTORY // 2 : HISTORY], rows[HISTORY:]
    assert not [r for r in settled if anomaly in r["rule_ids"]], "habitual reads were escalated"
    escalated = [r for r in burst if r["effect"] == "escalate" and anomaly in r["rule_ids"]]
    assert len(escalated) >= BURST * 0.9, f"{len(escalated)} of {BURST} burst events escalated"
    explanation = escalated[-1]["explanations"][0]
    assert "usual rate" in explanation or "data volume" in explanation, explanation

    [model_row] = audit_query(
        env,
        "SELECT effect, rule_ids, explanations, session_id, detector_scores['drift'] AS psi "
        "FROM clearance.decisions FINAL WHERE event_kind = 'model' "
        "AND resource_id = 'churn-e2e' AND event_id = 'churn-e2e-v3-production_window-4'",
    )
    assert model_row["effect"] == "revoke" and "model.drift.revoke" in model_row["rule_ids"]
    assert model_row["session_id"] == "v3" and model_row["psi"] > 0.25
    assert "tenure" in model_row["explanations"][0]
    effects = audit_query(
        env,
        "SELECT effect FROM clearance.decisions FINAL WHERE event_kind = 'model' "
        "ORDER BY occurred_at",
    )
    assert [r["effect"] for r in effects] == ["allow", "allow", "allow", "escalate", "revoke"]

    revocations = [
        Codec("Revocation").decode(m.value())
        for m in consume(bootstrap, f"{prefix}revocations", 1, timeout=30)
    ]
    model_revocations = [r for r in revocations if r["subject"]["id"] == "model:churn-e2e"]
    assert len(model_revocations) == 1
    assert "version v3" in model_revocations[0]["reason"]
