import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from clearance.detectors import DetectorInputError, PeerProfile

EventFactory = Callable[..., dict[str, Any]]


def test_surprisal_is_capped_and_monotone(action_event: EventFactory) -> None:
    peer = PeerProfile("g")
    for i in range(1000):
        peer.observe(action_event(i, action="common" if i % 10 else "rare"))
    assert peer.action_rarity("common") < peer.action_rarity("rare") < peer.action_rarity("never")
    assert peer.action_rarity("never") == 1.0
    assert math.isclose(peer.action_rarity("rare"), -math.log10(100.5 / 1001) / 3)


def test_only_sensitive_resources_are_remembered(action_event: EventFactory) -> None:
    peer = PeerProfile("g")
    peer.observe(action_event(0, resource="docs", sensitivity="public"))
    peer.observe(action_event(1, resource="ledger", sensitivity="confidential"))
    peer.observe(action_event(2, resource="payroll", sensitivity="restricted"))
    assert peer.knows("dataset/ledger") and peer.knows("dataset/payroll")
    assert not peer.knows("dataset/docs")


def test_round_trip_and_bounds(action_event: EventFactory) -> None:
    peer = PeerProfile("g", max_actions=5, max_sensitive_resources=7)
    for i in range(100):
        peer.observe(action_event(i, action=f"a{i}", resource=f"r{i}", sensitivity="restricted"))
    assert len(peer.actions) == 5 and len(peer.sensitive_resources) == 7
    thawed = PeerProfile.from_dict(json.loads(json.dumps(peer.to_dict())))
    assert thawed.to_dict() == peer.to_dict()
    assert thawed.action_rarity("a99") == peer.action_rarity("a99")


def test_unknown_state_format_is_refused() -> None:
    with pytest.raises(DetectorInputError, match="PeerProfile state format"):
        PeerProfile.from_dict({"format": 0})
