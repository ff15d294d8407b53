"""What a peer group does: the baseline a principal's actions are compared with."""

from collections.abc import Mapping
from typing import Any

from clearance.detectors._events import SENSITIVE
from clearance.detectors._habits import (
    FORMAT,
    Facts,
    check_format,
    count_action,
    event_facts,
    surprisal,
)
from clearance.detectors._lru import touch_count

__all__ = ["PeerProfile"]


class PeerProfile:
    """What one peer group does: actions, their volumes, and the sensitive resources touched.

    Parameters
    ----------
    group
        Role name, or ``type:<principal type>`` for principals without roles.
    max_actions
        Cap of the action counter (least recently used actions go first).
    max_sensitive_resources
        Cap of the set of confidential/restricted resources touched by the group. Forgetting
        one errs on the safe side: its next first access is flagged again.
    """

    def __init__(
        self, group: str, max_actions: int = 256, max_sensitive_resources: int = 512
    ) -> None:
        self.group = group
        self.max_actions = max_actions
        self.max_sensitive_resources = max_sensitive_resources
        self.events = 0
        # action -> [count, volume observations, volume mean, volume variance]
        self.actions: dict[str, list[float]] = {}
        self.sensitive_resources: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"PeerProfile(group={self.group!r}, events={self.events})"

    def knows(self, resource: str) -> bool:
        """Whether a member touched this sensitive resource (``type/id``)."""
        return resource in self.sensitive_resources

    def action_rarity(self, action: str) -> float:
        """Surprisal of the action within the group, in [0, 1]."""
        stats = self.actions.get(action)
        return surprisal(stats[0] if stats else 0.0, self.events)

    def observe(self, event: Mapping[str, Any]) -> None:
        """Count one event of a member of this group."""
        self._observe(event_facts(event))

    def _observe(self, facts: Facts) -> None:
        self.events += 1
        count_action(self.actions, facts, self.max_actions)
        if facts.sensitivity in SENSITIVE:
            touch_count(self.sensitive_resources, facts.resource, self.max_sensitive_resources)

    def to_dict(self) -> dict[str, Any]:
        """Return parameters and state as JSON-ready plain data."""
        return {
            "format": FORMAT,
            "group": self.group,
            "max_actions": self.max_actions,
            "max_sensitive_resources": self.max_sensitive_resources,
            "events": self.events,
            "actions": {k: list(v) for k, v in self.actions.items()},
            "sensitive_resources": dict(self.sensitive_resources),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PeerProfile":
        """Rebuild a profile from what ``to_dict`` returned."""
        check_format(data, "PeerProfile")
        peer = cls(data["group"], data["max_actions"], data["max_sensitive_resources"])
        peer.events = int(data["events"])
        peer.actions = {str(k): [float(x) for x in v] for k, v in data["actions"].items()}
        peer.sensitive_resources = {str(k): int(v) for k, v in data["sensitive_resources"].items()}
        return peer
