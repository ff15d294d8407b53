"""Outcomes are frozen and serialise to plain JSON for the audit trail."""

from __future__ import annotations

import dataclasses
import json

import pytest

from clearance.approvals import APPROVAL_REASON_CODES, ApprovalOutcome

LATER = 60_000


def test_an_outcome_is_frozen_and_serialises(open_state, approval, keyring, now) -> None:
    outcome = open_state().apply(approval("user:erin", roles=[]), now + LATER, keyring)
    assert isinstance(outcome, ApprovalOutcome)
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.accepted = True  # type: ignore[misc]
    data = json.loads(json.dumps(outcome.to_dict()))
    assert data["reason_code"] == "role_not_allowed" and data["accepted"] is False
    assert data["approval_id"] == outcome.approval_id and data["approvers"] == []
    assert data["signer"] == "reviewer-api"


def test_reason_codes_are_unique_and_start_with_accepted() -> None:
    assert APPROVAL_REASON_CODES[0] == "accepted"
    assert len(set(APPROVAL_REASON_CODES)) == len(APPROVAL_REASON_CODES)
