"""The batch hot path computes what the per-event methods compute, bit for bit, in Python and
compiled alike."""

import os
import random
from typing import Any

import numpy as np
import pytest

from clearance.detectors import DetectorInputError, ProfileStore, Workload, _native, event_facts
from clearance.detectors import _replay as python_replay
from clearance.detectors import store as store_module
from clearance.detectors._habits import HOURS_DECAY_AT

from .conftest import make_action_event

MINUTE = 60_000


@pytest.fixture(autouse=True, params=["python", "compiled"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs against the pure-Python replay and the mypyc-compiled one."""
    if request.param == "python":
        monkeypatch.setattr(store_module, "replay_events", python_replay.replay_events)
    elif not _native.COMPILED:
        if os.environ.get("REQUIRE_COMPILED"):
            pytest.fail("the compiled replay is not built; `make test` requires it (gcc)")
        pytest.skip("the compiled replay is not built (no C compiler at install)")
    else:
        assert store_module.replay_events is _native.replay_events


def _both_ways(
    events: list[dict[str, Any]], batch: int, **caps: int
) -> tuple[ProfileStore, np.ndarray, ProfileStore, np.ndarray]:
    reference, fast = ProfileStore(**caps), ProfileStore(**caps)
    for store in (reference, fast):
        # A principal abroad: its hours and days are local ones.
        store.profile("carol").utc_offset_hours = 5.5
    expected = reference.replay_facts([event_facts(e) for e in events])
    found = np.vstack(
        [fast.replay_events(events[i : i + batch]).matrix for i in range(0, len(events), batch)]
    )
    return reference, expected, fast, found


def _assert_same(reference: ProfileStore, expected: np.ndarray, fast: ProfileStore, found: Any):
    assert expected.tobytes() == found.tobytes()
    assert {k: p.to_dict() for k, p in reference.principals.items()} == {
        k: p.to_dict() for k, p in fast.principals.items()
    }
    assert {k: p.to_dict() for k, p in reference.peers.items()} == {
        k: p.to_dict() for k, p in fast.peers.items()
    }


def _odd_events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Events that take every branch: no roles, no source, no or negative data_bytes, no
    sensitivity, roles changing within a batch, late events, a principal abroad."""
    rng = random.Random(seed)
    ms, events = 1_704_067_200_000, []
    for _ in range(count):
        ms += rng.choice((0, 1_000, 20_000, MINUTE, 3 * MINUTE, 2 * 3_600_000))
        event = make_action_event(
            ms - rng.choice((0, 0, 0, 90_000)),
            principal=rng.choice(("alice", "bob", "carol", "bot")),
            action=rng.choice(("data.read", "data.export", "iam.grant", "deploy")),
            resource=f"r{rng.randrange(12)}",
            sensitivity=rng.choice(("public", "internal", "confidential", "restricted")),
            roles=rng.choice(((), ("analyst",), ("sre", "analyst"), ("analyst", "analyst"))),
            source=rng.choice((None, "laptop", "vpn", f"ip-{rng.randrange(6)}")),
            data_bytes=rng.choice((None, -5, 0, 10 ** rng.randrange(9))),
        )
        if rng.random() < 0.1:
            event["resource"]["sensitivity"] = None
        events.append(event)
    return events


@pytest.mark.parametrize("caps", [{}, {"max_resources": 4, "max_actions": 2, "max_sources": 2}])
def test_odd_events_give_the_same_features_and_profiles(caps: dict[str, int]) -> None:
    small_peers = {"max_peer_actions": 2, "max_peer_sensitive_resources": 3} if caps else {}
    _assert_same(*_both_ways(_odd_events(3000), 97, **caps, **small_peers))


def test_a_busy_principal_decays_its_hours_the_same_way() -> None:
    events = [
        make_action_event(1_704_067_200_000 + i * 7_000, resource=f"r{i % 300}")
        for i in range(HOURS_DECAY_AT + 300)
    ]
    reference, expected, fast, found = _both_ways(events, 1000)
    _assert_same(reference, expected, fast, found)
    assert sum(fast.profile("alice").hours) < HOURS_DECAY_AT  # it did decay


def test_the_workload_gives_the_same_features_and_profiles(small_workload: Workload) -> None:
    _assert_same(*_both_ways(small_workload.events, 500))


def test_hydrate_is_called_once_per_principal_and_batch_before_its_profiles_are_used() -> None:
    store = ProfileStore()
    calls: list[tuple[str, list[str]]] = []

    def hydrate(principal_id: str, groups: list[str]) -> None:
        calls.append((principal_id, groups))
        if principal_id == "bob":
            store.profile("bob").events = 41

    events = [make_action_event(i, principal=("alice", "bob")[i % 2]) for i in range(6)]
    replay = store.replay_events(events, hydrate)
    assert calls == [("alice", ["analyst"]), ("bob", ["analyst"])]
    assert store.profile("bob").events == 44
    assert set(replay.principals) == {"alice", "bob"} and set(replay.peers) == {"analyst"}


def test_a_bad_event_is_named() -> None:
    events = [make_action_event(0), make_action_event(1, sensitivity="secret")]
    with pytest.raises(DetectorInputError, match="sensitivity='secret'"):
        ProfileStore().replay_events(events)
