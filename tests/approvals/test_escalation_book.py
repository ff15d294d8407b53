"""EscalationBook: one principal's escalations, routing verdicts, timeouts, pruning, JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from clearance.approvals import (
    APPROVAL_REASON_CODES,
    EscalationBook,
    EscalationState,
    generate_keypair,
    signed_approval,
)
from clearance.rules import ApprovalRequirement

LATER = 60_000


def _book(open_state: Callable[..., EscalationState], *ids_and_expiry: tuple[str, int]):
    book = EscalationBook()
    for escalation_id, expires_in_ms in ids_and_expiry:
        state = open_state(escalation_id=escalation_id)
        state.expires_at = state.opened_at + expires_in_ms
        book.open(state)
    return book


def test_opening_again_keeps_the_verdicts_counted(open_state, approval, keyring, now) -> None:
    book = EscalationBook()
    book.open(open_state(ApprovalRequirement(roles=("data-steward",), quorum=2)))
    book.apply(approval("user:carol"), now + LATER, keyring)
    kept = book.open(open_state(ApprovalRequirement(roles=("data-steward",), quorum=2)))
    assert kept.approvers == ["user:carol"] and len(book) == 1


def test_a_verdict_goes_to_the_escalation_it_names(open_state, approval, keyring, now) -> None:
    book = _book(open_state, ("esc-a", 900_000), ("esc-b", 900_000))
    outcome = book.apply(approval(escalation_id="esc-b"), now + LATER, keyring)
    assert outcome.escalation_id == "esc-b" and outcome.status == "approved"
    assert book.get("esc-a").status == "open"  # type: ignore[union-attr]


def test_an_unknown_escalation_is_rejected_and_names_the_signer(
    open_state, approval, keyring, now
) -> None:
    book = _book(open_state, ("esc-a", 900_000))
    outcome = book.apply(approval(escalation_id="esc-missing"), now + LATER, keyring)
    assert (outcome.accepted, outcome.reason_code, outcome.status) == (
        False,
        "unknown_escalation",
        None,
    )
    assert outcome.signer == "reviewer-api" and "esc-missing" in outcome.reason


def test_the_signature_is_checked_before_the_lookup(open_state, approval, keyring, now) -> None:
    book = _book(open_state, ("esc-a", 900_000))
    unsigned = approval(escalation_id="esc-missing", sign=False)
    assert book.apply(unsigned, now + LATER, keyring).reason_code == "unsigned"


def test_expire_due_closes_only_what_is_due(open_state, now) -> None:
    book = _book(open_state, ("esc-soon", 60_000), ("esc-later", 600_000))
    assert book.next_expiry() == now + 60_000
    outcomes = book.expire_due(now + 60_000)
    assert [(o.escalation_id, o.effect) for o in outcomes] == [("esc-soon", "deny")]
    assert book.get("esc-soon").status == "expired"  # type: ignore[union-attr]
    assert [state.escalation_id for state in book.pending()] == ["esc-later"]
    assert book.next_expiry() == now + 600_000
    assert book.expire_due(now + 60_000) == []


def test_pending_lists_open_escalations_soonest_first(open_state, approval, keyring, now):
    book = _book(open_state, ("esc-c", 300_000), ("esc-a", 600_000), ("esc-b", 100_000))
    book.apply(approval(escalation_id="esc-a"), now + LATER, keyring)
    assert [state.escalation_id for state in book.pending()] == ["esc-b", "esc-c"]


def test_prune_forgets_closed_escalations_after_the_retention(
    open_state, approval, keyring, now
) -> None:
    book = _book(open_state, ("esc-a", 900_000), ("esc-b", 900_000))
    message = approval(escalation_id="esc-a")
    book.apply(message, now + LATER, keyring)
    assert book.prune(now + LATER + 999, retention_ms=1000) == []
    assert book.apply(message, now + LATER, keyring).reason_code == "replay"
    assert book.prune(now + LATER + 1000, retention_ms=1000) == ["esc-a"]
    assert book.get("esc-b") is not None
    assert book.apply(message, now + LATER, keyring).reason_code == "unknown_escalation"


def test_the_book_survives_a_json_round_trip(open_state, approval, keyring, now) -> None:
    book = _book(open_state, ("esc-a", 900_000), ("esc-b", 900_000))
    book.apply(approval(escalation_id="esc-a"), now + LATER, keyring)
    restored = EscalationBook.from_dict(json.loads(json.dumps(book.to_dict())))
    assert restored.to_dict() == book.to_dict()
    assert EscalationBook.from_dict(None).to_dict() == {"escalations": {}}


def test_every_rejection_reason_is_reachable_and_recorded(
    open_state, approval, keyring, signer, now
) -> None:
    """One concrete verdict per reason code, each applied to a fresh book."""
    stranger = generate_keypair("someone-else")
    replayed = approval("user:carol")
    tampered = approval("user:erin", roles=["sre"])
    tampered["approver"] = {**tampered["approver"], "roles": ["data-steward"]}
    scenarios: dict[str, tuple[list[dict[str, Any]], int]] = {
        "accepted": ([approval("user:carol")], LATER),
        "malformed": ([approval(sign=False, schema_check=False, decided_at="yesterday")], LATER),
        "unsigned": ([approval(sign=False)], LATER),
        "bad_signature": ([{**approval(), "signature": "not.a.jws"}], LATER),
        "unknown_kid": (
            [signed_approval(approval(sign=False), stranger.private_key, stranger.kid)],
            LATER,
        ),
        "payload_mismatch": ([tampered], LATER),
        "unknown_escalation": ([approval(escalation_id="esc-nope")], LATER),
        "replay": ([replayed, replayed], LATER),
        "not_open": ([approval("user:carol", "deny"), approval("user:dave")], LATER),
        "expired": ([approval("user:carol")], 15 * 60 * 1000),
        "missing_reason": ([approval(reason="")], LATER),
        "invalid_grant_seconds": ([approval(grant_seconds=0)], LATER),
        "self_approval": ([approval("agent:etl-7", approver_type="agent")], LATER),
        "on_behalf_self_approval": ([approval("user:alice")], LATER),
        "approver_not_human": ([approval("svc:bot", approver_type="service")], LATER),
        "role_not_allowed": ([approval("user:erin", roles=[])], LATER),
        "duplicate_approver": (
            [approval("user:carol", "deny"), approval("user:carol", "deny")],
            LATER,
        ),
    }
    quorum_two = ApprovalRequirement(roles=("data-steward",), quorum=2, deny_quorum=2)
    seen = {}
    for expected, (messages, offset) in scenarios.items():
        book = EscalationBook()
        needs_two = expected in ("duplicate_approver",)
        book.open(open_state(quorum_two) if needs_two else open_state())
        outcome = None
        for message in messages:
            outcome = book.apply(message, now + offset, keyring)
        assert outcome is not None
        seen[expected] = outcome.reason_code
        assert outcome.accepted == (expected == "accepted"), expected
        assert outcome.reason and json.dumps(outcome.to_dict())
    assert seen == {code: code for code in scenarios}
    assert set(scenarios) == set(APPROVAL_REASON_CODES)
