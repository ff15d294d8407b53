"""Re-checking live grants under a new policy version, and shadow decisions, without Kafka."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clearance.approvals import Keyring, generate_keypair, signed_approval
from clearance.config import load_settings
from clearance.rules import compile_pack, load_pack
from clearance.schemas import Codec
from clearance.signals import set_claims, set_problems
from clearance.streams.approval_state import ApprovalState
from clearance.streams.approval_store import MemoryApprovalStore
from clearance.streams.decide import Decider, InputMessage, TopicNames
from clearance.streams.policy_flow import PolicyFlow, ShadowEvaluator, regrant_event

PACKS = Path(__file__).parent / "policy_packs"
KEY = generate_keypair("api")


def _event(principal: str, dataset: str, event_id: str, **context: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "occurred_at": 1_795_428_000_000,
        "principal": {"id": principal, "type": "agent", "roles": [], "on_behalf_of": None},
        "action": "data.export",
        "resource": {
            "type": "dataset",
            "id": dataset,
            "environment": "prod",
            "sensitivity": "restricted",
        },
        "session_id": "s-1",
        "context": context,
    }


class World:
    def __init__(self, tmp_path: Path) -> None:
        store = MemoryApprovalStore()
        self.state = ApprovalState(Keyring({"api": KEY.public_key}), store)
        self.store = store
        policy = compile_pack(load_pack(PACKS / "v1"))
        self.decider = Decider(policy, TopicNames.with_prefix("t."), "json", approvals=self.state)
        settings = load_settings({}, data_dir=tmp_path)
        self.flow = PolicyFlow(settings, self.decider, self.state, store.principal_ids)

    def decide(self, event: dict[str, Any]) -> list[Any]:
        value = Codec("ActionEvent").encode(event, "json")
        outputs = self.decider.decide_batch(
            [InputMessage("t.actions", 0, 0, b"k", value, event["occurred_at"])]
        )
        self.state.flush()  # as the agent does after each batch
        return outputs

    def grant(self, principal: str, dataset: str) -> str:
        outputs = self.decide(_event(principal, dataset, f"e-{principal}"))
        decision = Codec("Decision").decode(outputs[0].value)
        assert decision["effect"] == "escalate"
        now = decision["decided_at"]
        approval = {
            "approval_id": f"a-{principal}",
            "escalation_id": decision["escalation_id"],
            "verdict": "approve",
            "approver": {"id": "user:bob", "type": "human", "roles": ["data-steward"]},
            "reason": "ok",
            "decided_at": now,
        }
        _, _, grant = self.state.apply(
            principal, 0, signed_approval(approval, KEY.private_key, "api"), now
        )
        self.state.flush()
        assert grant is not None
        return grant.grant_id


def _by_topic(outputs: list[Any]) -> dict[str, list[dict[str, Any]]]:
    codecs = {"t.decisions": Codec("Decision"), "t.revocations": Codec("Revocation")}
    found: dict[str, list[dict[str, Any]]] = {}
    for out in outputs:
        found.setdefault(out.topic, []).append(codecs[out.topic].decode(out.value))
    return found


def test_a_new_version_revokes_only_the_grants_it_no_longer_allows(tmp_path: Path) -> None:
    world = World(tmp_path)
    frozen = world.grant("agent:a", "customers")
    kept = world.grant("agent:b", "payroll")
    v2 = compile_pack(load_pack(PACKS / "v2"))
    now = 1_795_428_001_000
    assert world.flow.recheck(v2, {1}, now) == {}  # partition 0 is not owned: nothing
    outputs = world.flow.recheck(v2, {0}, now)
    found = _by_topic(outputs[0])
    assert [d["grant_id"] for d in found["t.decisions"]] == [frozen]
    assert found["t.decisions"][0]["event_kind"] == "policy"
    assert found["t.decisions"][0]["policy_version"] == v2.version
    (revocation,) = found["t.revocations"]
    assert (revocation["grant_id"], revocation["reason_code"]) == (frozen, "policy_change")
    assert set_problems(set_claims(revocation["security_event"])) == []
    # Revoked once: checking again (a repeated release) revokes nothing more.
    assert world.flow.recheck(v2, {0}, now) == {}
    live = world.state.active_grants(["agent:a", "agent:b"], {0}, now)
    assert [g.grant_id for _, _, g, _ in live] == [kept]


def test_a_revoke_decision_on_a_principal_takes_back_its_grants_only(tmp_path: Path) -> None:
    world = World(tmp_path)
    mine = world.grant("agent:a", "payroll")
    theirs = world.grant("agent:b", "payroll")
    outputs = world.decide(_event("agent:a", "ledger", "e-x", unusual_access_score=0.99))
    found = _by_topic(outputs)
    assert found["t.decisions"][0]["effect"] == "revoke"
    grants = [r["grant_id"] for r in found["t.revocations"] if r["grant_id"]]
    assert grants == [mine]
    live = world.state.active_grants(["agent:a", "agent:b"], {0}, 1_795_428_001_000)
    assert [g.grant_id for _, _, g, _ in live] == [theirs]


def test_a_release_switches_the_version_between_batches(tmp_path: Path) -> None:
    world = World(tmp_path)
    v1 = world.decider.policy.version
    from clearance.streams.policy_releases import prepare_release

    release = prepare_release(PACKS / "v2", "active", "user:carol")
    assert world.flow.apply(release) is not None
    assert world.decider.policy.version == release["version"] != v1
    assert world.flow.apply(release) is None  # the same version again changes nothing
    bad = {**release, "version": "sha256:0000000000000000"}
    assert world.flow.apply(bad) is None
    assert world.decider.policy.version == release["version"]  # a refused release: it stays


def test_shadow_decisions_are_recorded_apart_and_not_enforced(tmp_path: Path) -> None:
    world = World(tmp_path)
    shadow = compile_pack(load_pack(PACKS / "v2"))
    world.decider.shadow = ShadowEvaluator(shadow, world.decider, "t.shadow-decisions")
    outputs = world.decide(_event("agent:a", "customers", "e-s"))
    enforced = [o for o in outputs if o.topic == "t.decisions"]
    shadowed = [o for o in outputs if o.topic == "t.shadow-decisions"]
    assert Codec("Decision").decode(enforced[0].value)["effect"] == "escalate"
    record = Codec("Decision").decode(shadowed[0].value)
    assert (record["effect"], record["policy_version"]) == ("deny", shadow.version)
    assert record["event_id"] == "e-s"
    assert record["decision_id"] != Codec("Decision").decode(enforced[0].value)["decision_id"]


def test_a_grant_is_decided_again_with_the_context_it_was_approved_on(tmp_path: Path) -> None:
    world = World(tmp_path)
    outputs = world.decide(_event("agent:c", "payroll", "e-c", ticket="CHG-7"))
    escalation_id = Codec("Decision").decode(outputs[0].value)["escalation_id"]
    world.state.apply(
        "agent:c",
        0,
        signed_approval(
            {
                "approval_id": "a-c",
                "escalation_id": escalation_id,
                "verdict": "approve",
                "approver": {"id": "user:bob", "type": "human", "roles": ["data-steward"]},
                "reason": "ok",
                "decided_at": 1_795_428_000_500,
            },
            KEY.private_key,
            "api",
        ),
        1_795_428_000_500,
    )
    ((_, _, grant, state),) = world.state.active_grants(["agent:c"], {0}, 1_795_428_001_000)
    event = regrant_event(grant, state, 1_795_428_001_000)
    assert event["context"] == {"ticket": "CHG-7"}
    assert (event["action"], event["resource"]["id"]) == ("data.export", "payroll")
    assert event["resource"]["sensitivity"] == "restricted"
    # Issued under the version in force: nothing to re-check.
    assert world.flow.recheck(world.decider.policy, {0}, 1_795_428_001_000) == {}


def test_a_starting_worker_applies_only_what_should_be_in_force_now(tmp_path: Path) -> None:
    from clearance.streams.policy_releases import prepare_release

    world = World(tmp_path)
    v1 = prepare_release(PACKS / "v1", "active", "user:carol")
    v2 = prepare_release(PACKS / "v2", "active", "user:carol")
    candidate = prepare_release(PACKS / "shadow", "shadow", "user:carol")
    broken = {**v2, "version": "sha256:0000000000000000"}
    switches: list[str] = []
    use_policy = world.decider.use_policy
    world.decider.use_policy = lambda p: (switches.append(p.version), use_policy(p))[1]  # type: ignore[method-assign]
    world.flow.settle([v2, v1, candidate, v2, broken])
    # Straight to the newest release that compiles (v2, not the broken one after it), once.
    assert switches == [v2["version"]] == [world.decider.policy.version]
    assert world.decider.shadow is not None
    assert world.decider.shadow.policy.version == candidate["version"]
    # A shadow promoted since (pushed again as active) is not run beside itself.
    promoted = {**candidate, "slot": "active"}
    fresh = World(tmp_path / "fresh")
    fresh.flow.settle([v2, candidate, promoted])
    assert fresh.decider.shadow is None
    assert fresh.decider.policy.version == candidate["version"]
