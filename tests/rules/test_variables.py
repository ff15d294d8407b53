"""Variables taken from events: the match key, detectors, timestamps."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from clearance.errors import ClearanceError
from clearance.rules._variables import (
    VARIABLES,
    event_key,
    normalize_detectors,
    occurred_at_millis,
)


def test_event_key_for_actions_and_models() -> None:
    assert event_key("action", {"action": "a.b", "resource": {"environment": "prod"}}) == (
        "a.b",
        "prod",
    )
    assert event_key("action", {"action": None, "resource": None}) == ("", None)
    assert event_key("model", {"type": "deployment", "environment": "staging"}) == (
        "model.deployment",
        "staging",
    )


def test_normalize_detectors_accepts_mappings_objects_and_numbers() -> None:
    assert normalize_detectors(None) == {}
    assert normalize_detectors(
        {
            "a": {"score": 1, "label": "x"},
            "b": SimpleNamespace(score=0.5, label=None),
            "c": 0.25,
        }
    ) == {
        "a": {"score": 1.0, "label": "x"},
        "b": {"score": 0.5, "label": ""},
        "c": {"score": 0.25, "label": ""},
    }


@pytest.mark.parametrize("result", [{"label": "x"}, {"score": "high"}, True, "0.5"])
def test_normalize_detectors_rejects_results_without_a_score(result) -> None:
    with pytest.raises(ClearanceError, match="no numeric score"):
        normalize_detectors({"d": result})


def test_occurred_at_millis() -> None:
    aware = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    naive = dt.datetime(2024, 1, 1)
    assert occurred_at_millis({"occurred_at": aware}) == 1_704_067_200_000
    assert occurred_at_millis({"occurred_at": naive}) == 1_704_067_200_000
    assert occurred_at_millis({"occurred_at": 5}) == 5


def test_model_variables_expose_model_fields_and_action() -> None:
    event = {"type": "evaluation", "passed": False, "metrics": {"auc": 0.7}}
    model = VARIABLES["model"]
    assert model["action"].extract(event, {}) == "model.evaluation"
    assert model["model"].extract(event, {})["passed"] is False
    assert model["drift"].extract(event, {}) == {}
    assert "type" not in model
