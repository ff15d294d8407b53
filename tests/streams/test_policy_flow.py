"""Continuous authorization end to end on the real broker and the embedded ClickHouse.

One worker (with its audit sink) starts under ``policy_packs/v1``; the tests push packs with
the real ``clearance policy push`` command and watch what the worker does: the version it
switches to, the grants it revokes (exactly those the new version denies), the revocation
events (checked against the SET / CAEP claim rules, their signed SET verified), the audit
rows, and a shadow pack compared with ``clearance policy diff``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from _ports import free_port
from streams.test_approvals_flow import KEY, Collector, Setup, _agent, _wait

from clearance.approvals import Keyring, generate_keypair
from clearance.localkafka import LocalKafka
from clearance.signals import set_claims, set_problems, verify_set
from clearance.streams.policy_releases import prepare_release, publish_release

pytestmark = pytest.mark.integration

PACKS = Path(__file__).parent / "policy_packs"
SET_KEY = generate_keypair("clearance-set")
AUDIENCE = "https://pep.example"


def _resource(name: str, kind: str = "dataset", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "id": name, "environment": "prod", "sensitivity": "restricted", **extra}


DEPLOY = {"type": "service", "id": "billing", "environment": "prod", "sensitivity": "internal"}


class Flow(Setup):
    def clearance(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "clearance.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.api + "/clearance/status", timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def grant(self, principal: dict[str, Any], action: str, resource: dict[str, Any]) -> str:
        """Escalate, approve, and return the grant of the allow decision."""
        event_id = self.act(principal, action, resource, requested_seconds=1800)
        escalated = self.decision(event_id)
        assert escalated["effect"] == "escalate", escalated
        self.approve(principal["id"], escalated["escalation_id"], "bob")
        allowed = self.decision(event_id, kind="approval")
        assert allowed["effect"] == "allow" and allowed["grant_id"], allowed
        return str(allowed["grant_id"])

    def revocations(self, **fields: Any) -> list[dict[str, Any]]:
        return self.collector.where("revocations", **fields)


@contextmanager
def running_flow(kafka: LocalKafka, root: Path, **settings: str) -> Iterator[Flow]:
    """One worker (with its audit sink) under ``policy_packs/v1`` unless ``settings`` (the
    ``CLEARANCE_`` variables, without the prefix) say otherwise."""
    (root / "reviewer-api.pem").write_text(KEY.public_pem())
    (root / "set.pem").write_text(SET_KEY.private_pem())
    run = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    env.update(
        {
            "CLEARANCE_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "CLEARANCE_DATA_DIR": str(root / "data"),
            "CLEARANCE_TOPIC_PREFIX": f"p{run}.",
            "CLEARANCE_APP_ID": f"clearance-{run}",
            "CLEARANCE_AUDIT_GROUP": f"audit-{run}",
            "CLEARANCE_WEB_PORT": str(free_port()),
            "CLEARANCE_TOPIC_PARTITIONS": "2",
            "CLEARANCE_POLICY_PATH": str(PACKS / "v1"),
            "CLEARANCE_APPROVAL_KEYS": str(root / "reviewer-api.pem"),
            "CLEARANCE_APPROVALS_TICK_MS": "200",
            "CLEARANCE_SET_ISSUER": "https://clearance.example",
            "CLEARANCE_SET_AUDIENCE": AUDIENCE,
            "CLEARANCE_SET_SIGNING_KEY": str(root / "set.pem"),
            "CLEARANCE_SET_SIGNING_KID": SET_KEY.kid,
            **{f"CLEARANCE_{name.upper()}": value for name, value in settings.items()},
        }
    )
    log = open(root / "worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "-m", "clearance.cli", "worker"], env=env, stdout=log, stderr=log
    )
    time.sleep(2)
    collector = Collector(kafka.bootstrap, env["CLEARANCE_TOPIC_PREFIX"])
    ready = Flow(env, collector, worker)
    probe = ready.act(_agent("probe"), "data.read", _resource("probe", environment="dev"))
    try:
        ready.decision(probe, timeout=120)
    except AssertionError:
        worker.terminate()
        raise AssertionError((root / "worker.log").read_text()[-5000:]) from None
    try:
        yield ready
    finally:
        collector.stop()
        worker.terminate()
        worker.wait(60)
        log.close()
        print((root / "worker.log").read_text()[-3000:])


@pytest.fixture(scope="module")
def flow(kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    with running_flow(kafka, tmp_path_factory.mktemp("policy-flow")) as ready:
        yield ready


def _check_caep(revocation: dict[str, Any]) -> dict[str, Any]:
    """The revocation follows the SET / CAEP claim rules and its signed SET says the same."""
    claims = set_claims(revocation["security_event"])
    assert set_problems(claims) == [], (claims, set_problems(claims))
    keyring = Keyring.from_jwks({"keys": [SET_KEY.public_jwk()]})
    assert verify_set(revocation["set_jws"], keyring, AUDIENCE) == claims
    assert claims["jti"] == revocation["revocation_id"]
    assert claims["sub_id"]["format"] in ("opaque", "complex")
    return claims


def test_a_push_revokes_exactly_the_grants_the_new_version_denies(flow: Flow) -> None:
    frozen = [_agent("frozen-a"), _agent("frozen-b")]  # export customers: v2 denies it
    kept = [_agent("payroll"), _agent("deployer")]  # v2 still escalates these: grants stay
    revoked_grants = {flow.grant(p, "data.export", _resource("customers")) for p in frozen}
    kept_grants = {
        flow.grant(kept[0], "data.export", _resource("payroll")),
        flow.grant(kept[1], "infra.deploy", DEPLOY),
    }
    waiting = _agent("waiting")  # an open escalation, no grant: nothing to revoke
    assert flow.decision(flow.act(waiting, "data.export", _resource("customers")))["effect"] == (
        "escalate"
    )
    # Open sessions: those whose last allowed action v2 denies (exporting customers, allowed
    # by v1 when not restricted) are revoked; the others, including one allowed through a
    # window grant v2 still covers, stay open.
    exporters = [_agent("exporter-a"), _agent("exporter-b")]
    internal = _resource("customers", sensitivity="internal")
    dev = _resource("scratch", environment="dev")
    session_events = {
        (exporters[0]["id"], "s-export"): flow.act(
            exporters[0], "data.export", internal, session_id="s-export"
        ),
        (exporters[0]["id"], "s-dev"): flow.act(exporters[0], "data.read", dev, session_id="s-dev"),
        (exporters[1]["id"], "s-export"): flow.act(
            exporters[1], "data.export", internal, session_id="s-export"
        ),
        (kept[1]["id"], "s-deploy"): flow.act(
            kept[1], "infra.deploy", DEPLOY, session_id="s-deploy"
        ),
        (frozen[0]["id"], "s-dev"): flow.act(frozen[0], "data.read", dev, session_id="s-dev"),
    }
    for event_id in session_events.values():
        assert flow.decision(event_id)["effect"] == "allow"
    revoked_sessions = {(p["id"], "s-export") for p in exporters}
    before = flow.status()["policy_version"]

    pushed = flow.clearance("policy", "push", str(PACKS / "v2"), "--by", "user:carol")
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed active policy sha256:" in pushed.stdout and "by user:carol" in pushed.stdout
    version = pushed.stdout.split("policy ", 1)[1].split()[0]
    assert version != before

    def grants_and_sessions(records: list[dict[str, Any]]) -> tuple[set[Any], set[Any]]:
        grants = {r["grant_id"] for r in records if r["grant_id"]}
        sessions = {
            (r["principal"]["id"] if "principal" in r else r["subject"]["id"], r["session_id"])
            for r in records
            if not r["grant_id"]
        }
        return grants, sessions

    expected = (revoked_grants, revoked_sessions)
    found = _wait(
        lambda: (lambda r: r if grants_and_sessions(r) == expected else None)(
            flow.revocations(reason_code="policy_change")
        ),
        60,
        "the policy revocations",
    )
    time.sleep(3)  # anything else the push would (wrongly) revoke has had time to arrive
    policy_revocations = flow.revocations(reason_code="policy_change")
    assert grants_and_sessions(policy_revocations) == expected
    assert len(policy_revocations) == len(revoked_grants) + len(revoked_sessions)
    assert not {r["grant_id"] for r in flow.revocations()} & kept_grants
    kept_sessions = set(session_events) - revoked_sessions
    assert not {(r["subject"]["id"], r["session_id"]) for r in flow.revocations()} & kept_sessions
    for revocation in found:
        assert revocation["policy_version"] == version
        claims = _check_caep(revocation)
        assert claims["iss"] == "https://clearance.example" and claims["aud"] == AUDIENCE
        assert claims["txn"] == revocation["decision_id"]
        if revocation["grant_id"]:
            assert revocation["subject"]["id"] in {p["id"] for p in frozen}
            assert list(claims["events"]) == [
                "https://schemas.openid.net/secevent/caep/event-type/token-claims-change"
            ]
        else:
            assert list(claims["events"]) == [
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
            ]
            assert claims["sub_id"] == {
                "format": "complex",
                "user": {"format": "opaque", "id": revocation["subject"]["id"]},
                "session": {"format": "opaque", "id": revocation["session_id"]},
            }
    decisions = flow.collector.where("decisions", event_kind="policy")
    assert grants_and_sessions(decisions) == expected
    assert all(d["effect"] == "revoke" and d["policy_version"] == version for d in decisions)
    for decision in decisions:
        if not decision["grant_id"]:
            key = (decision["principal"]["id"], decision["session_id"])
            assert decision["event_id"] == session_events[key]
            assert decision["rule_ids"] == ["test.export.customers.frozen"]

    # Every worker decides under the new version from then on, without a restart.
    assert flow.worker.poll() is None
    assert flow.status()["policy_version"] == version
    later = flow.decision(flow.act(_agent("later"), "data.read", _resource("x", environment="dev")))
    assert later["policy_version"] == version
    # The kept grants still allow.
    assert flow.decision(flow.act(kept[1], "infra.deploy", DEPLOY))["grant_id"] in kept_grants

    # The audit store keeps the version's content and who pushed it, and the revoke decisions.
    rows = flow.sql_eventually(
        f"SELECT version, slot, pushed_by, files, tests_passed FROM clearance.policies FINAL "
        f"WHERE version = '{version}'",
        lambda rows: len(rows) == 1,
    )
    assert rows[0]["pushed_by"] == "user:carol" and rows[0]["slot"] == "active"
    assert rows[0]["files"] == {
        "pack.yaml": (PACKS / "v2" / "pack.yaml").read_text(),
    }
    assert rows[0]["tests_passed"] == 4
    audited = flow.sql_eventually(
        "SELECT grant_id, principal_id, session_id FROM clearance.decisions FINAL "
        f"WHERE event_kind = 'policy' AND policy_version = '{version}'",
        lambda rows: len(rows) == len(revoked_grants) + len(revoked_sessions),
    )
    assert {r["grant_id"] for r in audited if r["grant_id"]} == revoked_grants
    assert {
        (r["principal_id"], r["session_id"]) for r in audited if not r["grant_id"]
    } == revoked_sessions


def test_a_failing_pack_is_refused_with_its_reason_and_the_version_stays(flow: Flow) -> None:
    before = flow.status()["policy_version"]
    refused = flow.clearance("policy", "push", str(PACKS / "bad"))
    assert refused.returncode != 0
    assert "refused" in refused.stderr and "pack.yaml:11" in refused.stderr
    assert "Traceback" not in refused.stderr
    # A release written around the CLI (no lint, no tests) that does not compile: each
    # worker refuses it and keeps its version.
    broken = prepare_release(PACKS / "v1", "active", "user:mallory")
    broken["files"][0]["content"] = (PACKS / "bad" / "pack.yaml").read_text()
    publish_release(flow.env["CLEARANCE_KAFKA_BOOTSTRAP"], flow.prefix + "policies", broken)
    log = Path(flow.env["CLEARANCE_DATA_DIR"]).parent / "worker.log"
    _wait(lambda: "policy release refused" in log.read_text(), 30, "the worker's refusal")
    assert flow.status()["policy_version"] == before
    decided = flow.decision(flow.act(_agent("after-bad"), "data.read", _resource("x")))
    assert decided["policy_version"] == before


def test_an_unusual_access_revoke_takes_back_the_principals_grants(flow: Flow) -> None:
    flagged, bystander = _agent("flagged"), _agent("bystander")
    flagged_grants = {
        flow.grant(flagged, "data.export", _resource("payroll")),
        flow.grant(flagged, "infra.deploy", DEPLOY),
    }
    bystander_grant = flow.grant(bystander, "data.export", _resource("payroll"))
    event_id = flow.act(flagged, "data.read", _resource("ledger"), unusual_access_score=0.97)
    decision = flow.decision(event_id)
    assert decision["effect"] == "revoke"
    assert decision["rule_ids"] == ["test.risk.unusual_access.revoke"]
    taken = _wait(
        lambda: (lambda r: r if {x["grant_id"] for x in r} >= flagged_grants else None)(
            flow.revocations(decision_id=decision["decision_id"])
        ),
        30,
        "the flagged principal's grant revocations",
    )
    assert {r["grant_id"] for r in taken if r["grant_id"]} == flagged_grants
    assert not flow.revocations(grant_id=bystander_grant)
    for revocation in taken:
        assert revocation["subject"]["id"] == flagged["id"]
        _check_caep(revocation)
    # The principal-wide revocation is a session revocation with a complex subject.
    session = [r for r in taken if r["grant_id"] is None]
    assert len(session) == 1
    claims = _check_caep(session[0])
    assert claims["sub_id"]["format"] == "complex"
    assert list(claims["events"]) == [
        "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
    ]
    # The grants are gone: the same export escalates again; the bystander's still allows.
    again = flow.decision(flow.act(flagged, "data.export", _resource("payroll")))
    assert again["effect"] == "escalate"
    other = flow.decision(flow.act(bystander, "data.export", _resource("payroll")))
    assert other["effect"] == "allow" and other["grant_id"] == bystander_grant


def test_a_shadow_pack_is_recorded_beside_the_active_one_and_diffed(flow: Flow) -> None:
    active = flow.status()["policy_version"]
    pushed = flow.clearance("policy", "push", "--shadow", str(PACKS / "shadow"))
    assert pushed.returncode == 0, pushed.stderr
    shadow_version = pushed.stdout.split("policy ", 1)[1].split()[0]

    # Dev reads agree under both packs; wait until the worker evaluates the shadow.
    def shadowed() -> Any:
        event_id = flow.act(_agent("dev"), "data.read", _resource("d", environment="dev"))
        flow.decision(event_id)
        rows = flow.sql(
            f"SELECT count() AS n FROM clearance.shadow_decisions WHERE event_id = '{event_id}'"
        )
        return rows[0]["n"]

    _wait(shadowed, 90, "a shadow decision")
    assert flow.status()["shadow_policy_version"] == shadow_version
    prod_reads = [
        flow.act(
            _agent("reader"),
            "data.read",
            _resource(f"r{i}", environment="prod", sensitivity="internal"),
        )
        for i in range(6)
    ]
    enforced = [flow.decision(e) for e in prod_reads]
    assert all(d["effect"] == "allow" and d["policy_version"] == active for d in enforced)
    ids = ", ".join(f"'{e}'" for e in prod_reads)
    rows = flow.sql_eventually(
        f"SELECT event_id, effect, policy_version FROM clearance.shadow_decisions FINAL "
        f"WHERE event_id IN ({ids})",
        lambda rows: len(rows) == 6,
    )
    assert {(r["effect"], r["policy_version"]) for r in rows} == {("deny", shadow_version)}

    diff = flow.clearance("policy", "diff", "--version", shadow_version)
    assert diff.returncode == 0, diff.stderr
    head, *changes = diff.stdout.strip().splitlines()
    assert head.startswith(f"shadow {shadow_version}: 6 of ")
    assert len(changes) == 1 and changes[0].split("e.g.")[0].split() == [
        "allow",
        "->",
        "deny",
        "data.read:",
        "6",
    ]
    assert any(e in changes[0] for e in prod_reads)
    # Not enforced: the active version stays.
    assert flow.status()["policy_version"] == active
    assert flow.status()["shadow_policy_version"] == shadow_version


def test_a_starting_worker_takes_the_latest_pushed_release_that_compiles(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    from clearance.config import load_settings
    from clearance.rules import compile_pack, load_pack
    from clearance.streams.topics import clearance_topics, ensure_topics
    from clearance.streams.worker import pushed_policy

    prefix = f"w{uuid.uuid4().hex[:8]}."
    settings = load_settings(
        {}, kafka_bootstrap=kafka.bootstrap, topic_prefix=prefix, data_dir=tmp_path
    )
    ensure_topics(kafka.bootstrap, clearance_topics(prefix, 1, 1, 1_048_576))
    fallback = compile_pack(load_pack(PACKS / "v1"))
    assert pushed_policy(settings, fallback) is fallback  # nothing pushed yet
    v2 = prepare_release(PACKS / "v2", "active", "user:carol")
    shadow = prepare_release(PACKS / "shadow", "shadow", "user:carol")
    broken = prepare_release(PACKS / "v1", "active", "user:mallory")
    broken["files"] = [{"path": "pack.yaml", "content": "rules: [oops"}]
    for release in (v2, shadow, broken):
        publish_release(kafka.bootstrap, settings.topic("policies"), release)
    assert pushed_policy(settings, fallback).version == v2["version"]
