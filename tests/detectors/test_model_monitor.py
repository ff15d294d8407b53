import json
from typing import Any

import numpy as np
import pytest

from clearance.detectors import (
    DetectorInputError,
    ModelMonitor,
    PageHinkley,
    categorical_distribution,
    numeric_distribution,
)


def _event(kind: str, version: str = "v1", at: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"{kind}-{at}",
        "occurred_at": at,
        "model_id": "churn",
        "model_version": version,
        "type": kind,
        "environment": "prod",
        "actor": None,
        "features": [],
        "metrics": {},
        "passed": None,
        "from_environment": None,
        "context": {},
        **fields,
    }


def _window(rng: np.random.Generator, shift: float, edges: list[float] | None = None) -> list:
    return [
        numeric_distribution("tenure", rng.normal(24 + shift, 6, 3000), edges, sample_size=300),
        categorical_distribution("plan", rng.choice(["basic", "pro"], 3000, p=[0.7, 0.3])),
    ]


def _registered(monitor: ModelMonitor, rng: np.random.Generator) -> list:
    reference = _window(rng, 0.0)
    monitor.update(_event("registered", features=reference))
    return reference


def test_production_window_without_drift_and_with_drift() -> None:
    rng = np.random.default_rng(1)
    monitor = ModelMonitor("churn")
    reference = _registered(monitor, rng)
    edges = reference[0]["bin_edges"]
    quiet = monitor.update(_event("production_window", at=1, features=_window(rng, 0.0, edges)))
    assert not quiet.drifted and quiet.explanation == "no drift in 2 features"
    shifted = monitor.update(_event("production_window", at=2, features=_window(rng, 6.0, edges)))
    assert shifted.drifted
    assert shifted.scores["psi:tenure"] > 0.2 and shifted.scores["max_psi"] > 0.2
    assert {r.test for r in shifted.results if r.drifted} == {"psi", "ks"}
    assert "tenure" in shifted.explanation and "plan" not in shifted.explanation.split(":")[1]


def test_window_before_registration_is_explained_not_raised() -> None:
    monitor = ModelMonitor("churn")
    result = monitor.update(_event("production_window", version="v9"))
    assert not result.drifted and "no reference" in result.explanation


def test_evaluations_alarm_only_on_degradation() -> None:
    rng = np.random.default_rng(2)
    monitor = ModelMonitor("churn")
    assessments = []
    for i in range(60):
        level = 0.10 if i < 30 else 0.20
        metrics = {"error_rate": level + rng.normal(0, 0.01), "auc": 0.9, "custom": 1.0}
        assessments.append(monitor.update(_event("evaluation", at=i, metrics=metrics)))
    alarms = [i for i, a in enumerate(assessments) if a.drifted]
    assert alarms and 30 <= alarms[0] <= 40, alarms
    assert assessments[alarms[0]].explanation.startswith("degraded: error_rate rose to 0.2")
    assert "not watched: custom" in assessments[0].explanation
    assert assessments[0].scores["error_rate"] == pytest.approx(0.1, abs=0.05)
    improving = ModelMonitor("churn")
    for i in range(60):
        level = 0.20 if i < 30 else 0.10
        result = improving.update(_event("evaluation", at=i, metrics={"error_rate": level}))
        assert not result.drifted


def test_degradation_message_names_the_metric() -> None:
    monitor = ModelMonitor("churn", detector=PageHinkley(min_instances=5, threshold=5.0))
    messages = []
    for i in range(40):
        value = 0.9 if i < 20 else 0.7
        result = monitor.update(
            _event("evaluation", at=i, metrics={"auc": value + 0.001 * (i % 3)})
        )
        if result.drifted:
            messages.append(result.explanation)
    assert messages and messages[0].startswith("degraded: auc fell to 0.7")


def test_deployment_is_recorded_and_versions_start_afresh() -> None:
    rng = np.random.default_rng(3)
    monitor = ModelMonitor("churn")
    _registered(monitor, rng)
    text = monitor.update(
        _event(
            "deployment",
            at=5,
            actor={"id": "alice", "type": "human", "roles": [], "on_behalf_of": None},
            from_environment="staging",
        )
    ).explanation
    assert text == "version v1 deployed to prod from staging by alice"
    second = monitor.update(_event("deployment", version="v2", at=6)).explanation
    assert "replacing v1" in second and "no reference distributions" in second
    assert monitor.deployed == {"prod": "v2"}


def test_state_is_json_and_round_trips() -> None:
    rng = np.random.default_rng(4)
    monitor = ModelMonitor("churn", detector=PageHinkley(alarm_on="increase"), max_sample=50)
    reference = _registered(monitor, rng)
    for i in range(15):
        monitor.update(_event("evaluation", at=i, metrics={"error_rate": 0.1 + 0.001 * i}))
    data = json.loads(json.dumps(monitor.to_dict()))
    assert len(data["versions"]["v1"]["reference"][0]["sample"]) == 50
    thawed = ModelMonitor.from_dict(data)
    window = _event(
        "production_window", at=20, features=_window(rng, 3.0, reference[0]["bin_edges"])
    )
    assert thawed.update(window) == monitor.update(window)
    step = _event("evaluation", at=21, metrics={"error_rate": 0.5})
    assert thawed.update(step) == monitor.update(step)


def test_versions_are_bounded() -> None:
    monitor = ModelMonitor("churn", max_versions=3)
    for i in range(10):
        monitor.update(_event("registered", version=f"v{i}"))
    assert list(monitor.versions) == ["v7", "v8", "v9"]


def test_foreign_and_malformed_events_are_refused() -> None:
    monitor = ModelMonitor("churn")
    with pytest.raises(DetectorInputError, match="model_id 'fraud'"):
        monitor.update(dict(_event("registered"), model_id="fraud"))
    with pytest.raises(DetectorInputError, match="type 'retired'"):
        monitor.update(_event("retired"))
    broken = _event("registered")
    del broken["model_version"]
    with pytest.raises(DetectorInputError, match="model_version is missing"):
        monitor.update(broken)
