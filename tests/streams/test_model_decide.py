"""ModelDecider without Kafka: model events in, decisions, revocations, escalations out."""

from __future__ import annotations

from typing import Any

import pytest

from clearance.rules import DEFAULT_PACK_PATH, compile_pack, load_pack
from clearance.schemas import Codec
from clearance.streams.decide import InputMessage, TopicNames
from clearance.streams.model_decide import ModelDecider

from ._model_events import lifecycle, model_event

TOPICS = TopicNames.with_prefix("clearance.")


@pytest.fixture(scope="module")
def policy() -> Any:
    return compile_pack(load_pack(DEFAULT_PACK_PATH))


def _messages(events: list[dict[str, Any]], start: int = 0) -> list[InputMessage]:
    codec = Codec("ModelEvent")
    return [
        InputMessage(
            "clearance.model-events", 0, start + i, e["model_id"].encode(), codec.encode(e), 0
        )
        for i, e in enumerate(events)
    ]


def _decoded(outputs: list[Any], topic: str, schema: str) -> list[dict[str, Any]]:
    codec = Codec(schema)
    return [codec.decode(o.value) for o in outputs if o.topic == topic]


def test_a_drifting_model_is_revoked_naming_model_and_version(policy: Any) -> None:
    decider = ModelDecider(policy, TOPICS)
    outputs = decider.decide_batch(_messages(lifecycle("churn", "v7", drift_shift=1.0)))
    decisions = _decoded(outputs, TOPICS.decisions, "Decision")
    assert [d["effect"] for d in decisions] == ["allow", "allow", "allow", "escalate", "revoke"]
    drifted = decisions[-1]
    assert drifted["event_kind"] == "model" and drifted["resource"]["id"] == "churn"
    assert drifted["session_id"] == "v7" and "model.drift.revoke" in drifted["rule_ids"]
    assert drifted["detector_scores"]["drift"] > 0.25
    assert "tenure" in drifted["explanations"][0] and "v7" in drifted["explanations"][0]
    [revocation] = _decoded(outputs, TOPICS.revocations, "Revocation")
    assert revocation["subject"]["id"] == "model:churn" and revocation["action"] == "model.serve"
    assert "churn" in revocation["reason"] and "version v7" in revocation["reason"]
    [escalation] = _decoded(outputs, TOPICS.escalations, "Escalation")
    assert escalation["approver_roles"] == ["ml-lead"]


def test_a_quiet_model_keeps_serving(policy: Any) -> None:
    decider = ModelDecider(policy, TOPICS)
    outputs = decider.decide_batch(_messages(lifecycle("churn", "v7", drift_shift=0.0)))
    decisions = _decoded(outputs, TOPICS.decisions, "Decision")
    assert decisions[-1]["effect"] == "allow"
    assert decisions[-1]["detector_scores"]["drift"] < 0.1
    assert not _decoded(outputs, TOPICS.revocations, "Revocation")


def test_promotion_without_passing_evaluation_is_denied(policy: Any) -> None:
    decider = ModelDecider(policy, TOPICS)
    events = [
        model_event("evaluation", "fraud", "v2", 0, passed=False, metrics={"auc": 0.6}),
        model_event("deployment", "fraud", "v2", 1, from_environment="staging"),
    ]
    decisions = _decoded(decider.decide_batch(_messages(events)), TOPICS.decisions, "Decision")
    assert [d["effect"] for d in decisions] == ["deny", "deny"]
    assert "model.deployment.prod.unevaluated.deny" in decisions[1]["rule_ids"]
    assert decisions[1]["detector_scores"]["evaluation"] == 0.0


def test_monitor_state_survives_through_load_and_save(policy: Any) -> None:
    table: dict[str, Any] = {}
    events = lifecycle("churn", "v7", drift_shift=1.0)
    first = ModelDecider(policy, TOPICS, load=table.get, save=lambda p, k, s: table.update({k: s}))
    first.decide_batch(_messages(events[:4]))
    assert first.flush() == 1 and "churn" in table
    # A worker taking over the partition has only the table.
    second = ModelDecider(policy, TOPICS, load=table.get)
    outputs = second.decide_batch(_messages(events[4:], start=4))
    assert _decoded(outputs, TOPICS.decisions, "Decision")[0]["effect"] == "revoke"


def test_bad_model_events_are_dead_lettered_with_the_reason(policy: Any) -> None:
    decider = ModelDecider(policy, TOPICS)
    bad_window = model_event(
        "production_window",
        "churn",
        "v1",
        1,
        features=[{"name": "x", "kind": "numeric", "bin_edges": [0.0, 1.0], "counts": [1, 2]}],
    )
    registered = model_event(
        "registered",
        "churn",
        "v1",
        0,
        features=[{"name": "x", "kind": "numeric", "bin_edges": [0.0, 1.0, 2.0], "counts": [5, 5]}],
    )
    messages = _messages([registered, bad_window])
    messages.append(InputMessage("clearance.model-events", 0, 9, b"m", b"{not json", 0))
    outputs = decider.decide_batch(messages)
    letters = _decoded(outputs, TOPICS.dead_letter, "DeadLetter")
    assert [letter["reason_code"] for letter in letters] == ["invalid_value", "undecodable"]
    assert "model-events[0]@1" in letters[0]["reason"]
    assert len(_decoded(outputs, TOPICS.decisions, "Decision")) == 1
