"""Escalations, signed approvals and a keyring, as the approvals library receives them.

The requester is an agent working for user:alice; user:carol and user:dave are data
stewards who may approve; user:erin holds no approver role.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from clearance.approvals import (
    EscalationState,
    Keyring,
    SigningKeyPair,
    generate_keypair,
    signed_approval,
)
from clearance.rules import ApprovalRequirement
from clearance.schemas import Codec

NOW = 1_795_428_000_000  # 2026-11-23T10:00:00Z
ESCALATION_ID = "esc-0001"
REQUESTER = {
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
STEWARD = ["data-steward"]

ESCALATION: dict[str, Any] = {
    "escalation_id": ESCALATION_ID,
    "opened_at": NOW,
    "expires_at": NOW + 15 * 60 * 1000,
    "status": "open",
    "decision_id": "dec-0001",
    "event_id": "evt-0001",
    "principal": REQUESTER,
    "action": "data.export",
    "resource": RESOURCE,
    "session_id": "s-1",
    "rule_ids": ["data.export.sensitive.approval"],
    "reasons": ["agent:etl-7 exports restricted data"],
    "approver_roles": STEWARD,
    "quorum": 1,
    "deny_quorum": 1,
    "detector_scores": {"unusual_access": 0.91},
    "policy_version": "sha256:0123456789abcdef",
    "context": {"ticket": "CHG-1"},
}

EscalationFactory = Callable[..., dict[str, Any]]
ApprovalFactory = Callable[..., dict[str, Any]]
StateFactory = Callable[..., EscalationState]


@pytest.fixture(scope="session")
def signer() -> SigningKeyPair:
    """The reviewer service's signing key."""
    return generate_keypair("reviewer-api")


@pytest.fixture(scope="session")
def keyring(signer: SigningKeyPair) -> Keyring:
    """The workers' keyring: the reviewer service's public key only."""
    return Keyring.from_jwks({"keys": [signer.public_jwk()]})


@pytest.fixture
def escalation_record() -> EscalationFactory:
    """An Escalation record (valid against the schema) with fields overridden."""

    def make(**overrides: Any) -> dict[str, Any]:
        record = copy.deepcopy(ESCALATION)
        record.update(copy.deepcopy(overrides))
        Codec("Escalation").encode(record, "avro")  # fails loudly if the test built a bad one
        return record

    return make


@pytest.fixture
def open_state(escalation_record: EscalationFactory) -> StateFactory:
    """An open EscalationState from a record (overrides) and a requirement."""

    def make(requirement: ApprovalRequirement | None = None, **overrides: Any) -> EscalationState:
        requirement = requirement or ApprovalRequirement(roles=tuple(STEWARD))
        record = escalation_record(
            approver_roles=list(requirement.roles),
            quorum=requirement.quorum,
            deny_quorum=requirement.deny_quorum,
            **overrides,
        )
        return EscalationState.open(record, requirement)

    return make


@pytest.fixture
def approval(signer: SigningKeyPair) -> ApprovalFactory:
    """A signed Approval by ``approver_id``; every field can be overridden."""
    counter = itertools.count(1)

    def make(
        approver_id: str = "user:carol",
        verdict: str = "approve",
        *,
        roles: list[str] | None = None,
        on_behalf_of: str | None = None,
        approver_type: str = "human",
        sign: bool = True,
        schema_check: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        record = {
            "approval_id": f"apv-{next(counter):04d}",
            "escalation_id": ESCALATION_ID,
            "verdict": verdict,
            "approver": {
                "id": approver_id,
                "type": approver_type,
                "roles": STEWARD if roles is None else roles,
                "on_behalf_of": on_behalf_of,
            },
            "reason": "ticket CHG-1 checked with the data owner",
            "decided_at": NOW + 60_000,
            "grant_seconds": None,
            "signature": None,
        }
        record.update(fields)
        if schema_check:  # off only where a test builds an invalid approval on purpose
            Codec("Approval").encode(record, "avro")
        return signed_approval(record, signer.private_key, signer.kid) if sign else record

    return make


@pytest.fixture
def now() -> int:
    """When the escalation opened (epoch milliseconds); it expires 15 minutes later."""
    return NOW
