"""The escalations of one principal: the value a streaming table keyed by principal stores."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ._checks import rejection, shape_and_signature
from .escalation import EscalationState
from .outcomes import ApprovalOutcome, ExpiryOutcome, TimeoutEffect
from .signing import Keyring

__all__ = ["EscalationBook"]


class EscalationBook:
    """The escalations of one principal, by id: the value of a table keyed by principal.

    Parameters
    ----------
    escalations
        Escalation id to state.
    """

    def __init__(self, escalations: Mapping[str, EscalationState] | None = None) -> None:
        self.escalations: dict[str, EscalationState] = dict(escalations or {})

    def open(self, state: EscalationState) -> EscalationState:
        """Add ``state`` unless an escalation of that id exists; return the one kept.

        A redelivered escalate decision must not reset the verdicts already counted.
        """
        return self.escalations.setdefault(state.escalation_id, state)

    def get(self, escalation_id: str) -> EscalationState | None:
        """The escalation of that id, or ``None``."""
        return self.escalations.get(escalation_id)

    def pending(self) -> list[EscalationState]:
        """Open escalations, soonest to expire first."""
        return sorted(
            (state for state in self.escalations.values() if state.is_open),
            key=lambda state: (state.expires_at, state.escalation_id),
        )

    def apply(self, approval: Mapping[str, Any], now_ms: int, keyring: Keyring) -> ApprovalOutcome:
        """Check and count one verdict (see :meth:`EscalationState.apply`).

        The signature is checked before the escalation is looked up, so an unsigned message
        learns nothing about which escalations exist.
        """
        checked = shape_and_signature(approval, keyring)
        if isinstance(checked, ApprovalOutcome):
            return checked
        state = self.escalations.get(approval["escalation_id"])
        if state is None:
            outcome = rejection(
                approval,
                "unknown_escalation",
                f"no escalation {approval['escalation_id']} for this principal; it never "
                "opened, was closed long ago, or the approval was keyed by the wrong principal",
            )
            return replace(outcome, signer=checked)
        return state.apply_verified(approval, now_ms, signer=checked)

    def expire_due(
        self, now_ms: int, timeout_effect: TimeoutEffect = "deny"
    ) -> list[ExpiryOutcome]:
        """Close every open escalation past its ``expires_at``; one outcome each."""
        outcomes = []
        for state in self.pending():
            expired = state.expire(now_ms, timeout_effect)
            if expired is not None:
                outcomes.append(expired)
        return outcomes

    def next_expiry(self) -> int | None:
        """The earliest ``expires_at`` among open escalations, for a timer; ``None`` if none."""
        pending = self.pending()
        return pending[0].expires_at if pending else None

    def prune(self, now_ms: int, retention_ms: int) -> list[str]:
        """Forget escalations closed more than ``retention_ms`` ago; return their ids.

        Until then a replayed verdict is recognised as a replay; afterwards it is rejected
        as ``unknown_escalation``, which changes nothing either.
        """
        cutoff = now_ms - retention_ms
        gone = [
            escalation_id
            for escalation_id, state in self.escalations.items()
            if state.closed_at is not None and state.closed_at <= cutoff
        ]
        for escalation_id in gone:
            del self.escalations[escalation_id]
        return gone

    def __len__(self) -> int:
        return len(self.escalations)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_dict` restores it."""
        return {"escalations": {key: state.to_dict() for key, state in self.escalations.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> EscalationBook:
        """The book :meth:`to_dict` wrote; ``None`` (a principal with no entry) is empty."""
        if not data:
            return cls()
        return cls(
            {
                key: EscalationState.from_dict(value)
                for key, value in data.get("escalations", {}).items()
            }
        )
