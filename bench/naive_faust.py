"""Baseline (b): the Faust app a user writes first.

One agent, ``async for`` over the stream, one event at a time: decode it, walk the pack's
rules one by one (does the action match? the environment? then evaluate the condition),
combine the fired rules' effects, and ``await decisions.send(...)`` the decision.
``at_least_once``, Faust's defaults otherwise. It writes only the decision (no revocations,
escalations, dead letters or audit), so it does less than the pipeline it is compared to.

Run as ``python -m clearance.bench.naive_faust --bootstrap ... --input ... --output ...
--app-id ... --pack ... --data-dir ...``; it stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import sys
import time
from pathlib import Path
from typing import Any

import faust
from faust.types import StreamT

from clearance.rules import (
    CompiledPolicy,
    PolicyPack,
    Rule,
    Verdict,
    compile_pack,
    load_pack,
    merge_approvals,
)
from clearance.schemas import Codec
from clearance.streams.decide import decision_id_for

__all__ = ["RuleByRule", "build_naive_app", "main", "plain_app"]

# Strongest first, as the pack format defines (rules/README.md); severities weakest first.
_PRECEDENCE = ("deny", "revoke", "escalate", "allow")
_SEVERITIES = ("info", "low", "medium", "high", "critical")


class RuleByRule:
    """A pack's rules evaluated one after the other for each event.

    Each rule is compiled on its own (a one-rule pack), so evaluating it is one call with
    its own variables, as a loop over rules would do; the result is the verdict the engine
    gives for the whole pack.
    """

    def __init__(self, pack: PolicyPack) -> None:
        self.pack = pack
        self.rules: list[tuple[Rule, CompiledPolicy]] = [
            (rule, compile_pack(dataclasses.replace(pack, rules=(rule,))))
            for rule in pack.rules
            if rule.enabled and "action" in rule.match.kinds
        ]
        self._no_rules = compile_pack(dataclasses.replace(pack, rules=()))

    def decide(self, event: dict[str, Any]) -> Verdict:
        action = event["action"]
        environment = event["resource"]["environment"]
        fired: list[tuple[Rule, Verdict]] = []
        for rule, single in self.rules:
            if not any(fnmatch.fnmatchcase(action, pattern) for pattern in rule.match.actions):
                continue
            if rule.match.environments is not None and environment not in rule.match.environments:
                continue
            verdict = single.decide(event)
            if verdict.rule_ids:
                fired.append((rule, verdict))
        if not fired:
            return self._no_rules.decide(event)
        effects = {rule.effect for rule, _ in fired}
        effect = next(e for e in _PRECEDENCE if e in effects)
        return Verdict(
            effect=effect,  # type: ignore[arg-type]
            rule_ids=tuple(rule.id for rule, _ in fired),
            reasons=tuple(verdict.reasons[0] for _, verdict in fired),
            severity=max((rule.severity for rule, _ in fired), key=_SEVERITIES.index),
            approval=merge_approvals([rule for rule, _ in fired if rule.effect == "escalate"])
            if effect == "escalate"
            else None,
            policy_version=self.pack.version,
        )


def _decision(event: dict[str, Any], verdict: Verdict, message: Any, now_ms: int) -> dict[str, Any]:
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
        "detector_scores": {},
        "explanations": [],
        "escalation_id": decision_id if verdict.effect == "escalate" else None,
        "approvers": [],
        "grant_id": None,
        "grant_expires_at": None,
        "latency_ms": float(max(0, now_ms - int(message.timestamp * 1000))),
        "source_topic": message.topic,
        "source_partition": message.partition,
        "source_offset": message.offset,
    }


def plain_app(bootstrap: str, app_id: str, data_dir: Path) -> faust.App:
    """A Faust app with the defaults a user starts from: ``at_least_once``, no web server."""
    return faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
        datadir=str(data_dir),
    )


def build_naive_app(
    bootstrap: str, source: str, target: str, app_id: str, pack_path: Path, data_dir: Path
) -> faust.App:
    """The naive app: ``source`` (action events) to ``target`` (decisions)."""
    app = plain_app(bootstrap, app_id, data_dir)
    actions = app.topic(source, key_serializer="raw", value_serializer="raw")
    decisions = app.topic(target, key_serializer="raw", value_serializer="raw")
    events = Codec("ActionEvent")
    out = Codec("Decision")
    policy = RuleByRule(load_pack(pack_path))

    @app.agent(actions, name="naive-decide")
    async def decide(stream: StreamT) -> None:
        async for value in stream:
            event = events.decode(value)
            verdict = policy.decide(event)
            message = stream.current_event.message  # type: ignore[union-attr]
            decision = _decision(event, verdict, message, int(time.time() * 1000))
            await decisions.send(key=event["principal"]["id"].encode(), value=out.encode(decision))

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clearance.bench.naive_faust")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--pack", required=True, type=Path)
    parser.add_argument("--data-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    app = build_naive_app(
        args.bootstrap, args.input, args.output, args.app_id, args.pack, args.data_dir
    )
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
