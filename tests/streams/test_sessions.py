"""Open sessions in the decider and under a new policy version, without Kafka."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from clearance.approvals import Keyring, generate_keypair, signed_approval
from clearance.config import load_settings
from clearance.rules import CompiledPolicy, compile_pack, load_pack
from clearance.schemas import Codec
from clearance.signals import SESSION_REVOKED, set_claims, set_problems
from clearance.streams.approval_state import ApprovalState
from clearance.streams.approval_store import MemoryApprovalStore
from clearance.streams.decide import Decider, InputMessage, TopicNames
from clearance.streams.policy_flow import PolicyFlow
from clearance.streams.sessions import SessionState

PACKS = Path(__file__).parent / "policy_packs"
KEY = generate_keypair("api")
ROLES = {"data.export": ["data-steward"], "infra.deploy": ["sre"]}

# v1, plus: prod reads of the warehouse need an approval (allowed under v1 by default).
ESCALATING = """
pack: {name: sessions-escalating, default_effect: allow}
rules:
  - id: test.deploy.window
    description: A production deploy needs an SRE.
    match: {actions: [infra.deploy], environments: [prod]}
    effect: escalate
    severity: medium
    approval: {roles: [sre], timeout: 30m, grant: window, max_duration: 1h}
  - id: test.warehouse.approval
    description: Reading the warehouse now needs a data steward.
    match: {actions: [data.read], environments: [prod]}
    condition: resource.id == "warehouse"
    effect: escalate
    severity: medium
    approval: {roles: [data-steward], timeout: 30m, grant: one_time}
"""


def _event(
    principal: str,
    action: str,
    resource: str,
    session_id: str | None,
    event_id: str,
    sensitivity: str = "internal",
    **context: Any,
) -> dict[str, Any]:
    kind = "service" if action == "infra.deploy" else "dataset"
    return {
        "event_id": event_id,
        "occurred_at": int(time.time() * 1000),
        "principal": {"id": principal, "type": "agent", "roles": [], "on_behalf_of": None},
        "action": action,
        "resource": {
            "type": kind,
            "id": resource,
            "environment": "prod",
            "sensitivity": sensitivity,
        },
        "session_id": session_id,
        "context": context,
    }


class World:
    def __init__(self, tmp_path: Path, idle_seconds: int = 1800) -> None:
        self.approval_store = MemoryApprovalStore()
        self.session_store: dict[str, Any] = {}
        self.saves: list[str] = []
        self.approvals = ApprovalState(
            Keyring({"api": KEY.public_key}),
            self.approval_store,
        )
        self.sessions = SessionState(
            load=self.session_store.get,
            save=self._save,
            delete=lambda partition, key: self.session_store.pop(key),
            keys=lambda: list(self.session_store),
            idle_seconds=idle_seconds,
        )
        self.decider = Decider(
            compile_pack(load_pack(PACKS / "v1")),
            TopicNames.with_prefix("t."),
            "json",
            approvals=self.approvals,
            sessions=self.sessions,
        )
        settings = load_settings({}, data_dir=tmp_path)
        self.flow = PolicyFlow(
            settings, self.decider, self.approvals, self.approval_store.principal_ids
        )

    def _save(self, partition: int, key: str, state: Any) -> None:
        self.saves.append(key)
        self.session_store[key] = state

    def decide(self, *events: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """One batch, then the flushes the agent does after it."""
        codec = Codec("ActionEvent")
        now = int(time.time() * 1000)
        outputs = self.decider.decide_batch(
            [
                InputMessage("t.actions", 0, i, b"k", codec.encode(e, "json"), now)
                for i, e in enumerate(events)
            ]
        )
        self.approvals.flush()
        self.sessions.flush()
        return _by_topic(outputs)

    def grant(self, principal: str, action: str, resource: str, sensitivity: str) -> str:
        found = self.decide(
            _event(principal, action, resource, None, f"g-{principal}-{resource}", sensitivity)
        )
        decision = found["t.decisions"][0]
        assert decision["effect"] == "escalate", decision
        now = int(time.time() * 1000)
        approval = {
            "approval_id": f"a-{principal}-{resource}",
            "escalation_id": decision["escalation_id"],
            "verdict": "approve",
            "approver": {"id": "user:bob", "type": "human", "roles": ROLES[action]},
            "reason": "ok",
            "decided_at": now,
        }
        _, _, grant = self.approvals.apply(
            principal, 0, signed_approval(approval, KEY.private_key, "api"), now
        )
        self.approvals.flush()
        assert grant is not None
        return grant.grant_id

    def switch(self, policy: CompiledPolicy) -> dict[str, list[dict[str, Any]]]:
        self.decider.use_policy(policy)
        outputs = self.flow.recheck(policy, {0}, int(time.time() * 1000)).get(0, [])
        self.approvals.flush()
        self.sessions.flush()
        return _by_topic(outputs)

    def open_sessions(self, principal: str) -> list[str]:
        return sorted(self.sessions.open_sessions(principal, int(time.time() * 1000)))


def _by_topic(outputs: list[Any]) -> dict[str, list[dict[str, Any]]]:
    codecs = {
        "t.decisions": Codec("Decision"),
        "t.revocations": Codec("Revocation"),
        "t.escalations": Codec("Escalation"),
    }
    found: dict[str, list[dict[str, Any]]] = {}
    for out in outputs:
        found.setdefault(out.topic, []).append(codecs[out.topic].decode(out.value))
    return found


def _check_session_revocation(revocation: dict[str, Any], session_id: str) -> None:
    claims = set_claims(revocation["security_event"])
    assert set_problems(claims) == []
    assert list(claims["events"]) == [SESSION_REVOKED]
    assert claims["sub_id"] == {
        "format": "complex",
        "user": {"format": "opaque", "id": revocation["subject"]["id"]},
        "session": {"format": "opaque", "id": session_id},
    }


def test_allowed_events_open_sessions_and_each_principal_is_written_once_a_batch(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.decide(
        _event("agent:a", "data.read", "ledger", "s-1", "e-1"),
        _event("agent:a", "data.read", "payroll", "s-2", "e-2"),
        _event("agent:a", "data.read", "ledger", "s-1", "e-3"),
        _event("agent:a", "data.export", "customers", "s-3", "e-4", "restricted"),  # escalates
        _event("agent:b", "data.read", "ledger", None, "e-5"),  # no session
    )
    assert world.open_sessions("agent:a") == ["s-1", "s-2"]
    assert world.open_sessions("agent:b") == []
    assert world.saves == ["agent:a"]
    # The same actions again soon after: nothing that matters changed, nothing is written.
    world.decide(_event("agent:a", "data.read", "ledger", "s-1", "e-6"))
    assert world.saves == ["agent:a"]


def test_a_revoke_decision_closes_every_session_of_the_principal_only(tmp_path: Path) -> None:
    world = World(tmp_path)
    grant = world.grant("agent:a", "infra.deploy", "billing", "internal")
    world.decide(
        _event("agent:a", "data.read", "ledger", "s-1", "e-1"),
        _event("agent:a", "infra.deploy", "billing", "s-2", "e-2"),  # allowed by the grant
        _event("agent:a", "data.read", "payroll", "s-3", "e-3"),
        _event("agent:b", "data.read", "ledger", "s-1", "e-4"),
    )
    assert world.open_sessions("agent:a") == ["s-1", "s-2", "s-3"]
    found = world.decide(
        _event("agent:a", "data.read", "ledger", "s-3", "e-x", unusual_access_score=0.99)
    )
    (decision,) = found["t.decisions"]
    assert decision["effect"] == "revoke"
    revocations = found["t.revocations"]
    assert all(r["decision_id"] == decision["decision_id"] for r in revocations)
    assert [r["grant_id"] for r in revocations if r["grant_id"]] == [grant]
    # One session-revoked revocation per session: the decision's own (s-3) once.
    sessions = sorted(r["session_id"] for r in revocations if not r["grant_id"])
    assert sessions == ["s-1", "s-2", "s-3"]
    for revocation in revocations:
        if not revocation["grant_id"]:
            _check_session_revocation(revocation, revocation["session_id"])
            assert revocation["reason_code"] == "rule"
    assert world.open_sessions("agent:a") == []
    assert "agent:a" not in world.session_store  # nothing open: the record is deleted
    assert world.open_sessions("agent:b") == ["s-1"]


def test_a_new_version_revokes_only_the_sessions_it_no_longer_allows(tmp_path: Path) -> None:
    world = World(tmp_path)
    window = world.grant("agent:c", "infra.deploy", "billing", "internal")
    world.grant("agent:d", "data.export", "payroll", "restricted")  # one-time
    world.decide(
        # v2 denies every export of customers: revoked.
        _event("agent:a", "data.export", "customers", "s-export", "e-1"),
        _event("agent:a", "data.read", "ledger", "s-read", "e-2"),
        _event("agent:b", "data.read", "customers", "s-1", "e-3"),
        # Allowed through grants; v2 still escalates them and the grants cover them.
        _event("agent:c", "infra.deploy", "billing", "s-deploy", "e-4"),
        _event("agent:d", "data.export", "payroll", "s-pay", "e-5", "restricted"),
    )
    before = {p: world.open_sessions(p) for p in ("agent:a", "agent:b", "agent:c", "agent:d")}
    assert before == {
        "agent:a": ["s-export", "s-read"],
        "agent:b": ["s-1"],
        "agent:c": ["s-deploy"],
        "agent:d": ["s-pay"],
    }
    v2 = compile_pack(load_pack(PACKS / "v2"))
    found = world.switch(v2)
    (decision,) = found["t.decisions"]
    (revocation,) = found["t.revocations"]
    assert (decision["event_kind"], decision["effect"]) == ("policy", "revoke")
    assert (decision["session_id"], decision["event_id"]) == ("s-export", "e-1")
    assert decision["policy_version"] == v2.version
    assert decision["rule_ids"] == ["test.export.customers.frozen"]
    assert decision["reasons"][0].startswith("session s-export revoked: policy ")
    assert (revocation["subject"]["id"], revocation["session_id"]) == ("agent:a", "s-export")
    assert (revocation["reason_code"], revocation["policy_version"]) == (
        "policy_change",
        v2.version,
    )
    assert revocation["decision_id"] == decision["decision_id"]
    _check_session_revocation(revocation, "s-export")
    after = {p: world.open_sessions(p) for p in before}
    assert after == {**before, "agent:a": ["s-read"]}
    assert (
        world.approvals.active_grants(["agent:c"], {0}, int(time.time() * 1000))[0][2].grant_id
        == window
    )
    # Checked once under a version: the same push again (or the timer) revokes nothing more.
    assert world.switch(v2) == {}
    assert world.sessions.to_recheck(0, v2.version, int(time.time() * 1000)) == []


def test_an_action_now_escalated_without_a_grant_covering_it_loses_its_session(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    # Break-glass would let this one through under the new version: it stays.
    emergency = _event(
        "agent:b",
        "data.read",
        "warehouse",
        "s-bg",
        "e-3",
        break_glass=True,
        break_glass_reason="incident 7",
    )
    emergency["principal"]["roles"] = ["data-engineer"]
    world.decide(
        _event("agent:a", "data.read", "warehouse", "s-wh", "e-1"),
        _event("agent:a", "data.read", "ledger", "s-ledger", "e-2"),
        emergency,
    )
    pack = tmp_path / "escalating.yaml"
    pack.write_text(
        ESCALATING.replace(
            "grant: one_time}", "grant: one_time, break_glass_roles: [data-engineer]}"
        )
    )
    found = world.switch(compile_pack(load_pack(pack)))
    assert [r["session_id"] for r in found["t.revocations"]] == ["s-wh"]
    assert "no live grant covers it" in found["t.decisions"][0]["reasons"][0]
    assert world.open_sessions("agent:a") == ["s-ledger"]
    assert world.open_sessions("agent:b") == ["s-bg"]


def test_idle_sessions_are_closed_not_revoked(tmp_path: Path) -> None:
    world = World(tmp_path, idle_seconds=60)
    old = _event("agent:a", "data.export", "customers", "s-old", "e-1")
    old["occurred_at"] -= 50_000
    world.decide(old, _event("agent:a", "data.export", "customers", "s-new", "e-2"))
    assert world.open_sessions("agent:a") == ["s-new", "s-old"]
    later = int(time.time() * 1000) + 20_000  # s-old idle by then, s-new not
    world.decider.use_policy(v2 := compile_pack(load_pack(PACKS / "v2")))
    outputs = _by_topic(world.flow.recheck(v2, {0}, later).get(0, []))
    assert [r["session_id"] for r in outputs["t.revocations"]] == ["s-new"]
    world.sessions.flush()
    assert "agent:a" not in world.session_store


def test_sessions_are_rechecked_only_under_the_version_in_force_and_once_tables_settle(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.decide(_event("agent:a", "data.export", "customers", "s-export", "e-1"))
    v2 = compile_pack(load_pack(PACKS / "v2"))
    now = int(time.time() * 1000)
    # A timer pass still holding a version that is no longer (or not yet) in force.
    assert world.flow.recheck(v2, {0}, now) == {}
    world.decider.use_policy(v2)
    # A table that may still be recovering: nothing is looked at (nor marked as checked).
    assert world.flow.recheck(v2, {0}, now, sessions=False) == {}
    outputs = _by_topic(world.flow.recheck(v2, {0}, now).get(0, []))
    assert [r["session_id"] for r in outputs["t.revocations"]] == ["s-export"]
