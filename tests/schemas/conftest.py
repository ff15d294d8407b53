"""Realistic records of every message kind, in the codec's decoded shape."""

from __future__ import annotations

import copy
from typing import Any

import pytest

PRINCIPAL = {
    "id": "agent:etl-7",
    "type": "agent",
    "roles": ["data-engineer"],
    "on_behalf_of": "user:alice",
}
RESOURCE = {
    "type": "dataset",
    "id": "customers",
    "environment": "prod",
    "sensitivity": "restricted",
}

ACTION_EVENT_JSON = (
    b'{"event_id":"6f1c2b7e-1f0e-4f4e-9a51-0d6c1c9a8b11","occurred_at":"2026-11-23T10:00:00Z",'
    b'"principal":{"id":"agent:etl-7","type":"agent","roles":["data-engineer"],'
    b'"on_behalf_of":"user:alice"},"action":"data.export","resource":{"type":"dataset",'
    b'"id":"customers","environment":"prod","sensitivity":"restricted"},"session_id":"s-123",'
    b'"source":"10.0.0.4","data_bytes":1048576,"context":{"ticket":"CHG-1","rows":20000}}'
)

# 2026-11-23T10:00:00Z
T0 = 1_795_428_000_000

RECORDS: dict[str, dict[str, Any]] = {
    "ActionEvent": {
        "event_id": "6f1c2b7e-1f0e-4f4e-9a51-0d6c1c9a8b11",
        "occurred_at": T0,
        "principal": PRINCIPAL,
        "action": "data.export",
        "resource": RESOURCE,
        "session_id": "s-123",
        "source": "10.0.0.4",
        "data_bytes": 1_048_576,
        "context": {"ticket": "CHG-1", "rows": 20_000},
    },
    "ModelEvent": {
        "event_id": "me-41",
        "occurred_at": T0,
        "model_id": "churn",
        "model_version": "3.2.0",
        "type": "production_window",
        "environment": "prod",
        "actor": {"id": "svc:scorer", "type": "service", "roles": [], "on_behalf_of": None},
        "features": [
            {
                "name": "tenure_days",
                "kind": "numeric",
                "bin_edges": [0.0, 30.0, 365.0, 3650.0],
                "categories": [],
                "counts": [120, 840, 40],
                "sample": [12.5, 400.0, 31.0],
            },
            {
                "name": "plan",
                "kind": "categorical",
                "bin_edges": [],
                "categories": ["free", "pro"],
                "counts": [700, 300],
                "sample": [],
            },
        ],
        "metrics": {"error_rate": 0.031, "auc": 0.87},
        "passed": None,
        "from_environment": None,
        "context": {"window": "1h", "rows": 1000, "complete": True, "weight": 0.5, "note": None},
    },
    "Approval": {
        "approval_id": "ap-9",
        "escalation_id": "d-6f1c",
        "verdict": "approve",
        "approver": {
            "id": "user:bob",
            "type": "human",
            "roles": ["data-steward"],
            "on_behalf_of": None,
        },
        "reason": "CHG-1 is an approved migration",
        "decided_at": T0 + 60_000,
        "grant_seconds": 3600,
        "signature": "eyJhbGciOiJFZERTQSJ9.eyJ2IjoiYXBwcm92ZSJ9.c2ln",
    },
    "ApprovalOutcome": {
        "outcome_id": "o-51c2",
        "recorded_at": T0 + 61_000,
        "kind": "verdict",
        "approval_id": "ap-9",
        "escalation_id": "d-6f1c",
        "principal_id": "agent:etl-7",
        "verdict": "approve",
        "approver_id": "user:bob",
        "approver_type": "human",
        "approver_roles": ["data-steward"],
        "approver_on_behalf_of": None,
        "reviewer_reason": "CHG-1 is an approved migration",
        "accepted": True,
        "reason_code": "accepted",
        "reason": "approved by user:bob (1 of 1 needed)",
        "status": "approved",
        "decided": True,
        "approvers": ["user:bob"],
        "deniers": [],
        "signer": "reviewer-api",
        "purpose": "approval",
        "event_id": "6f1c2b7e-1f0e-4f4e-9a51-0d6c1c9a8b11",
        "action": "data.export",
        "resource_id": "customers",
        "rule_ids": ["data.export.sensitive.approval"],
        "policy_version": "sha256:1f0e",
        "decision_id": "d-77aa",
        "grant_id": "g-12",
        "grant_expires_at": T0 + 361_000,
        "source_topic": "clearance.approvals",
        "source_partition": 1,
        "source_offset": 42,
    },
    "Decision": {
        "decision_id": "d-6f1c2b7e1f0e4f4e",
        "event_id": "6f1c2b7e-1f0e-4f4e-9a51-0d6c1c9a8b11",
        "event_kind": "action",
        "decided_at": T0 + 12,
        "occurred_at": T0,
        "principal": PRINCIPAL,
        "action": "data.export",
        "resource": RESOURCE,
        "session_id": "s-123",
        "effect": "escalate",
        "rule_ids": ["export-restricted-needs-approval"],
        "reasons": ["export of restricted dataset customers needs approval by a data-steward"],
        "severity": "high",
        "policy_version": "sha256:9f2c1a",
        "detector_scores": {"volume_zscore": 3.2, "rarity": 0.91},
        "explanations": ["20000 rows is 3.2 sigma above this agent's mean"],
        "escalation_id": "d-6f1c2b7e1f0e4f4e",
        "approvers": [],
        "grant_id": None,
        "grant_expires_at": None,
        "latency_ms": 1.7,
        "source_topic": "clearance.actions",
        "source_partition": 3,
        "source_offset": 120_034,
    },
    "Revocation": {
        "revocation_id": "rv-1",
        "revoked_at": T0 + 5,
        "subject": PRINCIPAL,
        "session_id": "s-123",
        "grant_id": "g-77",
        "action": "*",
        "resource": RESOURCE,
        "reason_code": "grant_expired",
        "reason": "grant g-77 expired",
        "rule_ids": [],
        "policy_version": "sha256:9f2c1a",
        "decision_id": None,
        "security_event": {
            "iss": "urn:clearance",
            "jti": "rv-1",
            "iat": (T0 + 5) // 1000,
            "aud": ["urn:clearance:enforcement-points"],
            "txn": "rv-1",
            "sub_id": {"format": "opaque", "id": "agent:etl-7", "user": None, "session": None},
            "event_type": "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
            "event_timestamp": (T0 + 5) // 1000,
            "initiating_entity": "policy",
            "reason_admin": {"en": "grant g-77 expired"},
            "reason_user": {"en": "Your temporary access has expired."},
            "claims": {"clearance_grant_revoked": "g-77"},
            "change_type": None,
            "credential_type": None,
        },
        "set_jws": None,
    },
    "PolicyRelease": {
        "release_id": "r-1",
        "slot": "active",
        "version": "sha256:9f2c1a",
        "pack_name": "default",
        "pushed_by": "user:alice",
        "pushed_at": T0,
        "files": [{"path": "pack.yaml", "content": "pack: {name: default}\n"}],
        "tests_passed": 12,
        "lint_warnings": [],
    },
    "Escalation": {
        "escalation_id": "d-6f1c",
        "opened_at": T0 + 12,
        "expires_at": T0 + 3_600_012,
        "status": "open",
        "decision_id": "d-6f1c",
        "event_id": "6f1c2b7e-1f0e-4f4e-9a51-0d6c1c9a8b11",
        "principal": PRINCIPAL,
        "action": "data.export",
        "resource": RESOURCE,
        "session_id": None,
        "rule_ids": ["export-restricted-needs-approval"],
        "reasons": ["needs a data-steward"],
        "approver_roles": ["data-steward"],
        "quorum": 2,
        "deny_quorum": 1,
        "detector_scores": {},
        "policy_version": "sha256:9f2c1a",
        "context": {"ticket": "CHG-1"},
    },
    "DeadLetter": {
        "dead_letter_id": "clearance.actions-3-120035",
        "failed_at": T0 + 20,
        "reason_code": "undecodable",
        "reason": "byte 0 is 0xff, which starts none of the accepted formats",
        "source_topic": "clearance.actions",
        "source_partition": 3,
        "source_offset": 120_035,
        "key": b"agent:etl-7",
        "value": b"\xff\x00\xc3garbage",
        "value_size": 10,
    },
}


@pytest.fixture(params=sorted(RECORDS))
def kind(request: pytest.FixtureRequest) -> str:
    """Every schema name, one test each."""
    return str(request.param)


@pytest.fixture
def record(kind: str) -> dict[str, Any]:
    """A fresh copy of the realistic record of ``kind``."""
    return copy.deepcopy(RECORDS[kind])


@pytest.fixture
def action_event() -> dict[str, Any]:
    """A fresh copy of the realistic ActionEvent (ACTION_EVENT_JSON decoded)."""
    return copy.deepcopy(RECORDS["ActionEvent"])


@pytest.fixture(scope="session")
def records() -> dict[str, dict[str, Any]]:
    """The realistic record of every kind, shared: deep-copy before changing one."""
    return RECORDS


@pytest.fixture(scope="session")
def action_event_json() -> bytes:
    """The ActionEvent example as a publisher would send it, with an RFC 3339 timestamp."""
    return ACTION_EVENT_JSON
