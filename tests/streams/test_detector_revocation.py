"""A live detector alarm revokes a principal's grants and open sessions, on the real broker.

One worker runs with the access detector on (``CLEARANCE_DETECTORS=access``) under
``risk_pack``, whose revoke rule reads ``detectors.access.score``: no score is supplied by
the test. Two principals settle their habits (history events with past ``occurred_at``),
each gets a window grant and opens sessions; then one bursts (new resources, a new address,
2,000 times its usual volume). The detector's score passes the threshold, the revoke
decision cites the rule and the score, and that principal's grant and every open session
are revoked with CAEP revocations; the other principal keeps its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streams.test_approvals_flow import _wait
from streams.test_policy_flow import DEPLOY, Flow, _check_caep, running_flow

from clearance.localkafka import LocalKafka
from clearance.schemas import Codec

pytestmark = pytest.mark.integration

PACK = Path(__file__).parent / "risk_pack"
RULE = "test.risk.access.revoke"
THRESHOLD = 0.85  # as in risk_pack/pack.yaml
HISTORY = 60
BURST = 20
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"


@pytest.fixture(scope="module")
def risky(kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    root = tmp_path_factory.mktemp("detector-revocation")
    with running_flow(kafka, root, policy_path=str(PACK), detectors="access") as ready:
        yield ready


def _principal(name: str) -> dict[str, Any]:
    return {
        "id": f"agent:{name}-{uuid.uuid4().hex[:6]}",
        "type": "agent",
        "roles": ["reporting"],
        "on_behalf_of": "user:owner-1",
    }


def _read(
    principal: dict[str, Any], at_ms: int, dataset: str, source: str, data_bytes: int, session: str
) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "occurred_at": at_ms,
        "principal": principal,
        "action": "data.read",
        "resource": {
            "type": "dataset",
            "id": dataset,
            "environment": "prod",
            "sensitivity": "internal",
        },
        "session_id": session,
        "source": source,
        "data_bytes": data_bytes,
        "context": {},
    }


def _publish(flow: Flow, events: list[dict[str, Any]]) -> list[str]:
    codec = Codec("ActionEvent")
    for event in events:
        flow.producer.produce(
            flow.prefix + "actions",
            key=event["principal"]["id"].encode(),
            value=codec.encode(event, "json"),
        )
    assert flow.producer.flush(30) == 0
    return [event["event_id"] for event in events]


def _settle(flow: Flow, principal: dict[str, Any]) -> None:
    """Three hours of one read every three minutes on three datasets from one address; the
    last half hour of it leaves the session ``s-habit`` open."""
    now = int(time.time() * 1000)
    start = now - HISTORY * 180_000
    history = [
        _read(
            principal,
            start + i * 180_000,
            f"reports-{i % 3}",
            "10.0.0.1",
            200_000 + 1000 * (i % 7),
            "s-habit",
        )
        for i in range(HISTORY)
    ]
    decided = [flow.decision(e) for e in _publish(flow, history)]
    scores = [round(d["detector_scores"]["access"], 2) for d in decided]
    print(f"{principal['id']} history scores: {scores}")
    assert all(d["effect"] == "allow" for d in decided), scores


def _holdings(flow: Flow, principal: dict[str, Any]) -> tuple[str, set[str]]:
    """A window grant to deploy, used in one session, and a habitual read in another."""
    grant = flow.grant(principal, "infra.deploy", DEPLOY)
    escalated = flow.collector.where("decisions", grant_id=None, effect="escalate")
    asked = [d for d in escalated if d["principal"]["id"] == principal["id"]]
    print(f"{principal['id']} grant request score: {asked[-1]['detector_scores']['access']:.3f}")
    assert asked[-1]["rule_ids"] == ["test.deploy.window"]  # the detector did not trip
    used = flow.decision(flow.act(principal, "infra.deploy", DEPLOY, session_id="s-deploy"))
    assert (used["effect"], used["grant_id"]) == ("allow", grant), used
    now = int(time.time() * 1000)
    (read,) = _publish(flow, [_read(principal, now, "reports-0", "10.0.0.1", 205_000, "s-work")])
    habitual = flow.decision(read)
    assert habitual["effect"] == "allow", habitual
    print(
        f"{principal['id']} session scores: deploy {used['detector_scores']['access']:.3f}, "
        f"read {habitual['detector_scores']['access']:.3f}"
    )
    return grant, {"s-habit", "s-deploy", "s-work"}


def test_a_detector_alarm_revokes_the_principals_grants_and_sessions(risky: Flow) -> None:
    flagged, bystander = _principal("report-bot"), _principal("report-bot")
    for principal in (flagged, bystander):
        _settle(risky, principal)
    flagged_grant, flagged_sessions = _holdings(risky, flagged)
    bystander_grant, _ = _holdings(risky, bystander)

    now = int(time.time() * 1000)
    burst = [
        _read(flagged, now + 25 * i, f"warehouse-{i}", "203.0.113.9", 400_000_000, "s-burst")
        for i in range(BURST)
    ]
    decided = [risky.decision(e) for e in _publish(risky, burst)]
    print("burst scores:", [round(d["detector_scores"]["access"], 3) for d in decided])
    revoking = [d for d in decided if d["effect"] == "revoke"]
    assert revoking, "no burst event was revoked"
    decision = revoking[0]
    assert decision["rule_ids"] == [RULE]
    assert decision["detector_scores"]["access"] >= THRESHOLD
    assert decision["explanations"] and decision["explanations"][0].startswith("access ")

    # Its own session (s-burst) once, every other open session once, and the grant.
    expected = len(flagged_sessions) + 2
    taken = _wait(
        lambda: (lambda r: r if len(r) >= expected else None)(
            risky.revocations(decision_id=decision["decision_id"])
        ),
        30,
        "the flagged principal's revocations",
    )
    time.sleep(2)  # anything revoked twice has had time to arrive
    taken = risky.revocations(decision_id=decision["decision_id"])
    assert len(taken) == expected, taken
    assert {r["grant_id"] for r in taken if r["grant_id"]} == {flagged_grant}
    sessions = sorted(r["session_id"] for r in taken if not r["grant_id"])
    assert sessions == sorted({*flagged_sessions, "s-burst"})
    for revocation in taken:
        assert revocation["subject"]["id"] == flagged["id"]
        assert revocation["reason_code"] == "risk"
        claims = _check_caep(revocation)
        event = next(iter(claims["events"].values()))
        assert event["initiating_entity"] == "system"
        if not revocation["grant_id"]:
            assert list(claims["events"]) == [SESSION_REVOKED]
            assert claims["sub_id"]["session"] == {
                "format": "opaque",
                "id": revocation["session_id"],
            }
    # Later burst events revoke their own session again, but nothing held is left to take.
    later = risky.revocations(reason_code="risk")
    assert not [
        r
        for r in later
        if r["decision_id"] != decision["decision_id"]
        and (r["grant_id"] or r["session_id"] != "s-burst")
    ]

    # The bystander keeps everything: no revocation names it, its grant still allows.
    assert not [r for r in risky.revocations() if r["subject"]["id"] == bystander["id"]]
    again = risky.decision(risky.act(bystander, "infra.deploy", DEPLOY, session_id="s-deploy"))
    assert (again["effect"], again["grant_id"]) == ("allow", bystander_grant)

    # The audit trail has the revoke decision with the rule and the detector's score.
    rows = risky.sql_eventually(
        "SELECT rule_ids, detector_scores['access'] AS score FROM clearance.decisions FINAL "
        f"WHERE decision_id = '{decision['decision_id']}'",
        lambda rows: len(rows) == 1,
    )
    assert rows[0]["rule_ids"] == [RULE] and rows[0]["score"] >= THRESHOLD
