"""Where a decision is made: raw input messages in, encoded output messages out.

This module is the per-event hot path and knows nothing of Faust, so the agent, the tests and
the benchmarks run exactly the same code. :meth:`Decider.decide_batch` takes a batch of
:class:`InputMessage` and returns the :class:`OutputMessage` list to produce: one decision for
every decodable event, plus a revocation or an escalation where the effect asks for one, and a
dead letter (with the reason and the original bytes) for everything else.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from clearance.rules import CompiledPolicy, Verdict
from clearance.schemas import Codec, DecodeError

from .approval_state import ApprovalState
from .revocations import RevocationEncoder, held_revocations, revoke_reason_code
from .risk import AccessRisk, RiskAssessment
from .sessions import SessionState

__all__ = ["Decider", "InputMessage", "OutputMessage", "TopicNames", "decision_id_for"]


class InputMessage(NamedTuple):
    """One record as it came off Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int

    @classmethod
    def of(cls, event: Any) -> InputMessage:
        """The record behind a Faust stream event (its ``message``)."""
        m = event.message
        return cls(m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000))


class OutputMessage(NamedTuple):
    """One record to produce, and the input record it answers (for its transaction)."""

    topic: str
    key: bytes | None
    value: bytes
    source: InputMessage


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Full names of the topics the decider writes to."""

    decisions: str
    revocations: str
    escalations: str
    dead_letter: str

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        return cls(
            decisions=f"{prefix}decisions",
            revocations=f"{prefix}revocations",
            escalations=f"{prefix}escalations",
            dead_letter=f"{prefix}dead-letter",
        )


def decision_id_for(kind: str, event_id: str) -> str:
    """Deterministic decision id: a redelivered event gets the id it had the first time."""
    return hashlib.blake2b(f"{kind}:{event_id}".encode(), digest_size=16).hexdigest()


def _dead_letter_id(topic: str, partition: int, offset: int) -> str:
    return hashlib.blake2b(f"{topic}:{partition}:{offset}".encode(), digest_size=16).hexdigest()


class Decider:
    """Decodes action events, applies the policy and encodes what to produce.

    Parameters
    ----------
    policy:
        The compiled policy pack in force.
    topics:
        Names of the output topics.
    output_format:
        ``"avro"`` (single-object encoding) or ``"json"``.
    max_message_bytes:
        Larger inputs are dead-lettered as oversized.
    risk:
        Unusual-access scoring; ``None`` runs the rules without detectors.
    approvals:
        Escalations and grants: an escalated event that a live grant covers is allowed
        citing it, break-glass is allowed and opens a review, any other opens an escalation.
        ``None`` only publishes escalations.
    revocations:
        Encodes revocations with their CAEP security event (and signed SET).
    sessions:
        Open sessions: each decided event with a ``session_id`` is noted in its session
        (an allowed one opens it); a revoke decision closes every session of the principal.
        ``None`` keeps no sessions.

    Attributes
    ----------
    shadow:
        A candidate policy evaluated beside :attr:`policy` without enforcing it: called with
        each batch's events, sources and enforced verdicts, it returns the shadow decisions
        to publish (see :mod:`~clearance.streams.policy_flow`). ``None``: no shadow.
    """

    def __init__(
        self,
        policy: CompiledPolicy,
        topics: TopicNames,
        output_format: str = "avro",
        max_message_bytes: int = 1_048_576,
        risk: AccessRisk | None = None,
        approvals: ApprovalState | None = None,
        revocations: RevocationEncoder | None = None,
        sessions: SessionState | None = None,
    ) -> None:
        self.policy = policy
        self.shadow: Any = None
        self.risk = risk
        self.approvals = approvals
        self.sessions = sessions
        self.topics = topics
        self.output_format = output_format
        self.max_message_bytes = max_message_bytes
        self._actions = Codec("ActionEvent", max_message_bytes=max_message_bytes)
        self._decisions = Codec("Decision")
        self.revocations = revocations or RevocationEncoder()
        self._escalations = Codec("Escalation")
        self._dead_letters = Codec("DeadLetter")

    def use_policy(self, policy: CompiledPolicy) -> CompiledPolicy:
        """Put ``policy`` in force from the next batch on; return the one it replaces.

        Batches are decided synchronously, so a swap made between them is atomic: every
        event of a batch is decided under one version, which its decision cites.
        """
        previous, self.policy = self.policy, policy
        return previous

    def decide_batch(self, messages: list[InputMessage]) -> list[OutputMessage]:
        """Decide every message of a batch; never raises for bad input."""
        events: list[dict[str, Any]] = []
        sources: list[InputMessage] = []
        out: list[OutputMessage] = []
        decode = self._actions.decode
        for message in messages:
            try:
                events.append(decode(message.value))
            except DecodeError as exc:
                out.append(self.dead_letter(message, exc.reason_code, exc.reason))
                continue
            sources.append(message)
        if not events:
            return out
        if self.risk is None:
            risks: list[RiskAssessment | None] = [None] * len(events)
            verdicts = self.policy.decide_many(events, "action")
        else:
            assessed = self.risk.assess(events, [m.partition for m in sources])
            risks = list(assessed)
            verdicts = self.policy.decide_many(events, "action", [a.detectors for a in assessed])
        now_ms = int(time.time() * 1000)
        for event, verdict, risk, source in zip(events, verdicts, risks, sources, strict=True):
            out.extend(self._outputs_for(event, verdict, risk, source, now_ms))
        if self.shadow is not None:
            out.extend(self.shadow(events, sources, verdicts, risks, now_ms))
        return out

    def _outputs_for(
        self,
        event: dict[str, Any],
        verdict: Verdict,
        risk: RiskAssessment | None,
        source: InputMessage,
        now_ms: int,
    ) -> list[OutputMessage]:
        decision = self.decision_record(event, verdict, source, now_ms, risk)
        escalation = None
        if verdict.effect == "escalate":
            escalation = self.escalation_record(event, decision, verdict)
            if self.approvals is not None:
                escalation = self._resolve(event, verdict, decision, escalation, source, now_ms)
        if self.sessions is not None and verdict.effect != "revoke":
            self.sessions.record(
                event, decision["effect"], verdict.policy_version, source.partition, now_ms
            )
        key = event["principal"]["id"].encode()
        fmt = self.output_format
        outputs = [
            OutputMessage(
                self.topics.decisions,
                key,
                self._decisions.encode(decision, fmt, trusted=True),
                source,
            )
        ]
        if verdict.effect == "revoke":
            revocation = self.revocation_record(decision)
            outputs.append(
                OutputMessage(
                    self.topics.revocations,
                    key,
                    self.revocations.encode(revocation, fmt, trusted=True),
                    source,
                )
            )
            outputs.extend(self._revoke_held(decision, key, source, now_ms))
        elif escalation is not None:
            outputs.append(
                OutputMessage(
                    self.topics.escalations,
                    key,
                    self._escalations.encode(escalation, fmt, trusted=True),
                    source,
                )
            )
        return outputs

    def _revoke_held(
        self, decision: dict[str, Any], key: bytes, source: InputMessage, now_ms: int
    ) -> list[OutputMessage]:
        """A revoke decision on a principal (a rule, a risk score past the threshold) also
        takes back every live grant it holds and closes every session it has open."""
        principal_id = decision["principal"]["id"]
        grants = (
            self.approvals.revoke_grants(principal_id, source.partition, now_ms)
            if self.approvals is not None
            else []
        )
        sessions = (
            self.sessions.close_all(principal_id, now_ms) if self.sessions is not None else {}
        )
        return [
            OutputMessage(
                self.topics.revocations,
                key,
                self.revocations.encode(record, self.output_format, trusted=True),
                source,
            )
            for record in held_revocations(decision, grants, sessions, now_ms)
        ]

    def _resolve(
        self,
        event: dict[str, Any],
        verdict: Verdict,
        decision: dict[str, Any],
        escalation: dict[str, Any],
        source: InputMessage,
        now_ms: int,
    ) -> dict[str, Any] | None:
        """Apply a live grant or break-glass to ``decision``; the escalation to publish."""
        assert self.approvals is not None
        resolved = self.approvals.escalated(
            event, escalation, verdict.approval, source.partition, now_ms
        )
        if resolved.how == "open":
            return escalation
        decision["effect"] = "allow"
        if resolved.grant is not None:
            grant = resolved.grant
            decision.update(
                escalation_id=grant.escalation_id,
                approvers=list(grant.approvers),
                grant_id=grant.grant_id,
                grant_expires_at=grant.expires_at,
            )
            decision["reasons"] = [
                *decision["reasons"],
                f"allowed by {grant.kind} grant {grant.grant_id} (escalation "
                f"{grant.escalation_id}, approved by {', '.join(grant.approvers)})",
            ]
            return None
        review = resolved.review
        assert review is not None
        decision["escalation_id"] = review.escalation_id
        decision["reasons"] = [resolved.reason, *decision["reasons"]]
        return {
            **escalation,
            "escalation_id": review.escalation_id,
            "opened_at": review.opened_at,
            "expires_at": review.expires_at,
            "approver_roles": list(review.approver_roles),
            "quorum": 1,
            "deny_quorum": 1,
            "reasons": [resolved.reason, *escalation["reasons"]],
            "context": {**escalation["context"], "purpose": review.purpose},
        }

    def revoke_outputs(
        self,
        key: bytes,
        decision: dict[str, Any],
        revocation: dict[str, Any],
        source: InputMessage,
    ) -> list[OutputMessage]:
        """A revoke decision made outside the event stream (a re-check) and its revocation,
        as published."""
        fmt = self.output_format
        return [
            OutputMessage(
                self.topics.decisions,
                key,
                self._decisions.encode(decision, fmt, trusted=True),
                source,
            ),
            OutputMessage(
                self.topics.revocations,
                key,
                self.revocations.encode(revocation, fmt, trusted=True),
                source,
            ),
        ]

    def decision_record(
        self,
        event: dict[str, Any],
        verdict: Verdict,
        source: InputMessage,
        now_ms: int,
        risk: RiskAssessment | None = None,
    ) -> dict[str, Any]:
        """The Decision for one event (see schemas/Decision.avsc)."""
        decision_id = decision_id_for("action", event["event_id"])
        return {
            "decision_id": decision_id,
            "event_id": event["event_id"],
            "event_kind": "action",
            "decided_at": now_ms,
            "occurred_at": event["occurred_at"],
            "principal": event["principal"],
            "action": event["action"],
            "resource": event["resource"],
            "session_id": event["session_id"],
            "effect": verdict.effect,
            "rule_ids": list(verdict.rule_ids),
            "reasons": list(verdict.reasons),
            "severity": verdict.severity,
            "policy_version": verdict.policy_version,
            "detector_scores": risk.scores if risk else {},
            "explanations": risk.explanations if risk else [],
            "escalation_id": decision_id if verdict.effect == "escalate" else None,
            "approvers": [],
            "grant_id": None,
            "grant_expires_at": None,
            "latency_ms": float(max(0, now_ms - source.timestamp_ms)),
            "source_topic": source.topic,
            "source_partition": source.partition,
            "source_offset": source.offset,
        }

    @staticmethod
    def revocation_record(decision: dict[str, Any]) -> dict[str, Any]:
        """The Revocation a revoke decision publishes for enforcement points."""
        return {
            "revocation_id": decision["decision_id"],
            "revoked_at": decision["decided_at"],
            "subject": decision["principal"],
            "session_id": decision["session_id"],
            "grant_id": None,
            "action": "*",
            "resource": decision["resource"],
            "reason_code": revoke_reason_code(decision),
            "reason": "; ".join(decision["reasons"]),
            "rule_ids": decision["rule_ids"],
            "policy_version": decision["policy_version"],
            "decision_id": decision["decision_id"],
        }

    @staticmethod
    def escalation_record(
        event: dict[str, Any], decision: dict[str, Any], verdict: Verdict
    ) -> dict[str, Any]:
        """The Escalation a reviewer sees: who, what, where, why."""
        approval = verdict.approval
        timeout_ms = int(approval.timeout_seconds * 1000) if approval else 15 * 60 * 1000
        return {
            "escalation_id": decision["escalation_id"],
            "opened_at": decision["decided_at"],
            "expires_at": decision["decided_at"] + timeout_ms,
            "status": "open",
            "decision_id": decision["decision_id"],
            "event_id": event["event_id"],
            "principal": event["principal"],
            "action": event["action"],
            "resource": event["resource"],
            "session_id": event["session_id"],
            "rule_ids": decision["rule_ids"],
            "reasons": decision["reasons"],
            "approver_roles": list(approval.roles) if approval else [],
            "quorum": approval.quorum if approval else 1,
            "deny_quorum": approval.deny_quorum if approval else 1,
            "detector_scores": decision["detector_scores"],
            "policy_version": decision["policy_version"],
            "context": event["context"],
        }

    def dead_letter(self, message: InputMessage, reason_code: str, reason: str) -> OutputMessage:
        """A dead letter keeping the original bytes (cut to the size limit) and coordinates."""
        value = message.value
        record = {
            "dead_letter_id": _dead_letter_id(message.topic, message.partition, message.offset),
            "failed_at": int(time.time() * 1000),
            "reason_code": reason_code,
            "reason": f"{message.topic}[{message.partition}]@{message.offset}: {reason}",
            "source_topic": message.topic,
            "source_partition": message.partition,
            "source_offset": message.offset,
            "key": message.key,
            "value": value[: self.max_message_bytes] if value is not None else None,
            "value_size": len(value) if value is not None else 0,
        }
        encoded = self._dead_letters.encode(record, self.output_format)
        return OutputMessage(self.topics.dead_letter, message.key, encoded, message)
