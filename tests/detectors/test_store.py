from collections.abc import Callable
from typing import Any

import pytest

from clearance.detectors import DetectorInputError, ProfileStore
from clearance.detectors.profiles import PEER_MIN_EVENTS

EventFactory = Callable[..., dict[str, Any]]
HOUR = 3_600_000


def test_replay_takes_features_before_learning(action_event: EventFactory) -> None:
    store = ProfileStore()
    events = [action_event(i * HOUR) for i in range(3)]
    rows = store.replay(events)
    assert rows[0]["first_seen_action"] == 1.0
    assert rows[1]["first_seen_action"] == 0.0
    assert store.profile("alice").events == 3


def test_features_alone_do_not_learn(action_event: EventFactory) -> None:
    store = ProfileStore()
    event = action_event(0)
    store.features(event)
    store.features(event)
    assert store.profile("alice").events == 0
    store.observe(event)
    assert store.features(event)["first_seen_resource"] == 0.0


def test_peer_groups_are_roles_or_the_principal_type(action_event: EventFactory) -> None:
    store = ProfileStore()
    store.observe(action_event(0, roles=("analyst", "finance")))
    store.observe(action_event(0, principal="bot", roles=()))
    assert set(store.peers) == {"analyst", "finance", "type:human"}


def test_a_peer_touching_a_sensitive_resource_makes_it_known(
    action_event: EventFactory,
) -> None:
    store = ProfileStore()
    for i in range(PEER_MIN_EVENTS):  # peer groups old enough to know their resources
        store.observe(action_event(i, principal="bob", resource="wiki", sensitivity="public"))
        store.observe(action_event(i, principal="sam", resource="wiki", roles=("sre",)))
    store.observe(action_event(0, principal="bob", resource="ledger", sensitivity="restricted"))
    mine = action_event(HOUR, resource="ledger", sensitivity="restricted")
    other_role = action_event(
        HOUR, principal="eve", resource="ledger", sensitivity="restricted", roles=("sre",)
    )
    assert store.features(mine)["first_sensitive_outside_peers"] == 0.0
    assert store.features(other_role)["first_sensitive_outside_peers"] == 1.0


def test_missing_principal_id_is_named(action_event: EventFactory) -> None:
    event = action_event(0)
    del event["principal"]["id"]
    with pytest.raises(DetectorInputError, match=r"principal\.id is missing"):
        ProfileStore().observe(event)
