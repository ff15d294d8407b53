"""Where a decision on a model is made: model events in, encoded output messages out.

:class:`ModelDecider` is the model-event counterpart of
:class:`~clearance.streams.decide.Decider` and, like it, knows nothing of Faust. Each
``clearance.model-events`` message is decoded, fed to its model's
:class:`~clearance.detectors.ModelMonitor` (reference distributions, drift tests on production
windows, degradation detectors on evaluations, deployments), and the monitor's findings reach
the policy as detector results:

``detectors.drift``
    production windows: ``score`` is the largest PSI of the window, ``label`` is ``drifted``
    when any feature drifted (PSI band, or KS / chi-squared with Bonferroni), else ``stable``
    (``no-reference`` when the version registered no distributions). The window's PSI per
    feature is also the ``drift`` map of the event.
``detectors.degradation``
    evaluations: ``score`` 1.0 when a watched metric's change detector alarmed, else 0.0.
``detectors.evaluation``
    deployments: ``score`` 1.0 when the version's latest gated evaluation passed, else 0.0
    (``label`` ``passed``, ``failed`` or ``missing``).

The decision's resource is the model (``type`` model, ``id`` the model id, the event's
environment) and its ``session_id`` carries the model version; its principal is the event's
actor, or the model itself (``model:<model id>``, a service) when no actor is given. A revoke
publishes a revocation whose subject is the model, for action ``model.serve``, with a reason
naming the model id and version. Monitors live in memory per model id and are persisted
through ``load`` / ``save`` callables (a changelog-backed table in the worker).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from clearance.detectors import ModelAssessment, ModelMonitor
from clearance.detectors.errors import DetectorError
from clearance.rules import CompiledPolicy, Verdict
from clearance.schemas import Codec, DecodeError

from .decide import Decider, InputMessage, OutputMessage, TopicNames, decision_id_for
from .risk import RiskAssessment

__all__ = ["ModelDecider", "model_detectors"]

Load = Callable[[str], Any]
Save = Callable[[int, str, Any], None]


def model_detectors(
    event: dict[str, Any], assessment: ModelAssessment, monitor: ModelMonitor
) -> dict[str, dict[str, Any]]:
    """The ``detectors`` variable a model event's policy conditions see."""
    kind = event["type"]
    if kind == "production_window":
        psi = {r.feature: r.statistic for r in assessment.results if r.test == "psi"}
        event["drift"] = psi
        label = "drifted" if assessment.drifted else "stable"
        if not assessment.results:
            label = "no-reference"
        return {"drift": {"score": max(psi.values(), default=0.0), "label": label}}
    if kind == "evaluation":
        degraded = assessment.drifted
        return {
            "degradation": {
                "score": 1.0 if degraded else 0.0,
                "label": "degraded" if degraded else "stable",
            }
        }
    if kind == "deployment":
        passed = monitor.evaluation_passed(assessment.model_version)
        label = "missing" if passed is None else ("passed" if passed else "failed")
        return {"evaluation": {"score": 1.0 if passed else 0.0, "label": label}}
    return {}


class ModelDecider:
    """Decodes model events, runs their model's monitor, applies the policy, encodes outputs.

    Parameters
    ----------
    policy:
        The compiled policy pack in force (its ``kinds: [model]`` rules apply).
    topics:
        Names of the output topics.
    output_format:
        ``"avro"`` or ``"json"``.
    max_message_bytes:
        Larger inputs are dead-lettered as oversized.
    load:
        ``load(model_id) -> dict | None``: a monitor's stored state, for monitors not in memory.
    save:
        ``save(partition, model_id, state)``: persist a monitor changed since the last flush.
    """

    def __init__(
        self,
        policy: CompiledPolicy,
        topics: TopicNames,
        output_format: str = "avro",
        max_message_bytes: int = 1_048_576,
        load: Load | None = None,
        save: Save | None = None,
    ) -> None:
        self.policy = policy
        self.topics = topics
        self.output_format = output_format
        self._load = load or (lambda key: None)
        self._save = save or (lambda partition, key, state: None)
        self._events = Codec("ModelEvent", max_message_bytes=max_message_bytes)
        self._decisions = Codec("Decision")
        self._revocations = Codec("Revocation")
        self._escalations = Codec("Escalation")
        # Dead letters share the action decider's encoding and size limit.
        self._letters = Decider(policy, topics, output_format, max_message_bytes)
        self._monitors: dict[str, ModelMonitor] = {}
        self._dirty: dict[str, int] = {}

    def monitor(self, model_id: str) -> ModelMonitor:
        """The model's monitor: in memory, else from its stored state, else a new one."""
        found = self._monitors.get(model_id)
        if found is None:
            state = self._load(model_id)
            found = ModelMonitor.from_dict(state) if state is not None else ModelMonitor(model_id)
            self._monitors[model_id] = found
        return found

    def decide_batch(self, messages: list[InputMessage]) -> list[OutputMessage]:
        """Decide every message of a batch; never raises for bad input."""
        out: list[OutputMessage] = []
        for message in messages:
            try:
                event = self._events.decode(message.value)
            except DecodeError as exc:
                out.append(self._letters.dead_letter(message, exc.reason_code, exc.reason))
                continue
            model_id = event["model_id"]
            monitor = self.monitor(model_id)
            # The monitor is changed only by an update that succeeds: a rejected event must
            # not leave half of itself in the state.
            before = copy.deepcopy(monitor.to_dict())
            try:
                assessment = monitor.update(event)
                detectors = model_detectors(event, assessment, monitor)
            except (DetectorError, ValueError, TypeError) as exc:
                self._monitors[model_id] = ModelMonitor.from_dict(before)
                out.append(self._letters.dead_letter(message, "invalid_value", str(exc)))
                continue
            self._dirty[model_id] = message.partition
            verdict = self.policy.decide(event, "model", detectors)
            out.extend(self._outputs_for(event, verdict, assessment, detectors, message))
        return out

    def _outputs_for(
        self,
        event: dict[str, Any],
        verdict: Verdict,
        assessment: ModelAssessment,
        detectors: dict[str, dict[str, Any]],
        source: InputMessage,
    ) -> list[OutputMessage]:
        now_ms = int(time.time() * 1000)
        decision = self.decision_record(event, verdict, assessment, detectors, source, now_ms)
        key = event["model_id"].encode()
        fmt = self.output_format
        records = [(self.topics.decisions, self._decisions, decision)]
        if verdict.effect == "revoke":
            revocation = self.revocation_record(event, decision)
            records.append((self.topics.revocations, self._revocations, revocation))
        elif verdict.effect == "escalate":
            shaped = {**event, **_action_view(event)}
            escalation = Decider.escalation_record(shaped, decision, verdict)
            records.append((self.topics.escalations, self._escalations, escalation))
        return [
            OutputMessage(topic, key, codec.encode(record, fmt), source)
            for topic, codec, record in records
        ]

    def decision_record(
        self,
        event: dict[str, Any],
        verdict: Verdict,
        assessment: ModelAssessment,
        detectors: dict[str, dict[str, Any]],
        source: InputMessage,
        now_ms: int,
    ) -> dict[str, Any]:
        """The Decision on one model event (see schemas/Decision.avsc)."""
        scores = {k: float(v) for k, v in assessment.scores.items()}
        scores.update({name: result["score"] for name, result in detectors.items()})
        explanation = (
            f"model {assessment.model_id} version {assessment.model_version}, "
            f"{event['type']}: {assessment.explanation}"
        )
        shaped = {**event, **_action_view(event)}
        risk = RiskAssessment(detectors, scores, [explanation])
        decision = self._letters.decision_record(shaped, verdict, source, now_ms, risk)
        decision_id = decision_id_for("model", event["event_id"])
        decision["decision_id"] = decision_id
        decision["event_kind"] = "model"
        if decision["escalation_id"] is not None:
            decision["escalation_id"] = decision_id
        return decision

    @staticmethod
    def revocation_record(event: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
        """The revocation of a model version's authorization to serve."""
        model_id, version = event["model_id"], event["model_version"]
        why = "; ".join(decision["reasons"]) or "revoked by policy"
        return {
            "revocation_id": decision["decision_id"],
            "revoked_at": decision["decided_at"],
            "subject": _model_principal(model_id),
            "session_id": version,
            "grant_id": None,
            "action": "model.serve",
            "resource": decision["resource"],
            "reason_code": "rule",
            "reason": f"model {model_id} version {version}: authorization to serve revoked: {why}",
            "rule_ids": decision["rule_ids"],
            "policy_version": decision["policy_version"],
            "decision_id": decision["decision_id"],
        }

    def flush(self) -> int:
        """Persist every monitor the batches since the last flush changed; returns the count."""
        count = len(self._dirty)
        for model_id, partition in self._dirty.items():
            self._save(partition, model_id, self._monitors[model_id].to_dict())
        self._dirty.clear()
        return count

    def forget(self) -> None:
        """Drop the in-memory monitors (after a rebalance they are loaded again)."""
        self._monitors.clear()


def _model_principal(model_id: str) -> dict[str, Any]:
    return {"id": f"model:{model_id}", "type": "service", "roles": [], "on_behalf_of": None}


def _action_view(event: dict[str, Any]) -> dict[str, Any]:
    """A model event in the who / what / where shape decisions and escalations use."""
    return {
        "principal": event.get("actor") or _model_principal(event["model_id"]),
        "action": f"model.{event['type']}",
        "resource": {
            "type": "model",
            "id": event["model_id"],
            "environment": event.get("environment") or "prod",
            "sensitivity": "internal",
        },
        "session_id": event["model_version"],
        "context": event.get("context") or {},
    }
