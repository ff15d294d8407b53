import json
from collections.abc import Callable
from typing import Any

import pytest

from clearance.detectors import (
    ACCESS_FEATURES,
    DetectorInputError,
    PeerProfile,
    PrincipalProfile,
)
from clearance.detectors.profiles import PEER_MIN_EVENTS

EventFactory = Callable[..., dict[str, Any]]
MIN = 60_000
DAY = 86_400_000
MONDAY_10H = 1_704_067_200_000 + 10 * 3_600_000  # 2024-01-01 10:00 UTC


def _mature(action_event: EventFactory, peer: PeerProfile) -> None:
    """Give the peer group enough history for its sensitive resources to mean something."""
    for i in range(PEER_MIN_EVENTS):
        peer.observe(action_event(i * MIN, principal="peer", resource="wiki", sensitivity="public"))


def _habit(
    action_event: EventFactory, profile: PrincipalProfile, peer: PeerProfile, days: int = 10
) -> None:
    """Weekdays 10:00-10:20, one read a minute on two datasets."""
    for day in range(days):
        if day % 7 >= 5:
            continue
        for minute in range(20):
            event = action_event(
                MONDAY_10H + day * DAY + minute * MIN, resource=("sales", "costs")[minute % 2]
            )
            profile.observe(event)
            peer.observe(event)


def test_features_cover_the_feature_list_in_order(action_event: EventFactory) -> None:
    features = PrincipalProfile("alice").features(action_event(MONDAY_10H))
    assert tuple(features) == ACCESS_FEATURES
    assert all(isinstance(v, float) for v in features.values())


def test_familiar_event_looks_familiar(action_event: EventFactory) -> None:
    profile, peer = PrincipalProfile("alice"), PeerProfile("analyst")
    _habit(action_event, profile, peer)
    f = profile.features(action_event(MONDAY_10H + 14 * DAY + 5 * MIN), [peer])
    assert f["first_seen_resource"] == f["first_seen_action"] == f["first_seen_source"] == 0.0
    assert f["off_hours"] == 0.0 and f["night"] == 0.0 and f["weekend"] == 0.0
    assert f["action_rarity_principal"] < 0.1 and f["source_rarity"] < 0.1
    assert abs(f["volume_z"]) < 1.0 and f["rate_log2"] <= 1.0
    assert f["first_sensitive_outside_peers"] == 0.0


def test_unusual_event_lights_up_the_right_features(action_event: EventFactory) -> None:
    profile, peer = PrincipalProfile("alice"), PeerProfile("analyst")
    _habit(action_event, profile, peer)
    _mature(action_event, peer)
    saturday_3am = MONDAY_10H + 12 * DAY - 7 * 3_600_000
    event = action_event(
        saturday_3am,
        action="iam.role.grant",
        resource="payroll",
        sensitivity="restricted",
        source="203.0.113.9",
        data_bytes=None,
    )
    f = profile.features(event, [peer])
    # A settled principal: new resources and sources are nearly as surprising as can be.
    assert f["first_seen_action"] == 1.0
    assert f["first_seen_resource"] > 0.95 and f["first_seen_source"] > 0.95
    assert f["night"] == 1.0 and f["weekend"] == 1.0 and f["off_hours"] > 0.9
    assert f["action_rarity_principal"] > 0.7 and f["action_rarity_peers"] > 0.7
    assert f["sensitivity"] == 1.0
    assert f["first_sensitive_outside_peers"] == 1.0


def test_sensitive_resource_a_peer_touched_is_inside_the_group(
    action_event: EventFactory,
) -> None:
    alice, bob, peer = PrincipalProfile("alice"), PrincipalProfile("bob"), PeerProfile("analyst")
    young = action_event(MONDAY_10H + MIN, resource="payroll", sensitivity="confidential")
    assert alice.features(young, [peer])["first_sensitive_outside_peers"] == 0.0
    _mature(action_event, peer)
    seen_by_bob = action_event(
        MONDAY_10H, principal="bob", resource="ledger", sensitivity="confidential"
    )
    bob.observe(seen_by_bob)
    peer.observe(seen_by_bob)
    mine = action_event(MONDAY_10H + MIN, resource="ledger", sensitivity="confidential")
    assert alice.features(mine, [peer])["first_sensitive_outside_peers"] == 0.0
    other = action_event(MONDAY_10H + MIN, resource="payroll", sensitivity="confidential")
    assert alice.features(other, [peer])["first_sensitive_outside_peers"] == 1.0
    public = action_event(MONDAY_10H + MIN, resource="docs", sensitivity="public")
    assert alice.features(public, [peer])["first_sensitive_outside_peers"] == 0.0


def test_burst_and_volume_spike_against_the_baseline(
    action_event: EventFactory,
) -> None:
    profile, peer = PrincipalProfile("alice"), PeerProfile("analyst")
    _habit(action_event, profile, peer)
    start = MONDAY_10H + 14 * DAY
    for second in range(0, 40):
        profile.observe(action_event(start + second * 1000))
    burst = profile.features(action_event(start + 41_000), [peer])
    assert 2 ** burst["rate_log2"] > 20
    huge = profile.features(action_event(start + 41_000, data_bytes=10**9), [peer])
    assert huge["volume_z"] > 6
    assert huge["hourly_volume_log2"] > 6


def test_first_actions_are_judged_against_peer_volumes(action_event: EventFactory) -> None:
    profile, peer = PrincipalProfile("alice"), PeerProfile("analyst")
    for i in range(20):
        peer.observe(
            action_event(
                MONDAY_10H + i * MIN, principal="bob", action="data.export", data_bytes=20_000_000
            )
        )
    usual = profile.features(
        action_event(MONDAY_10H, action="data.export", data_bytes=25_000_000), [peer]
    )
    assert abs(usual["volume_z"]) < 1.0
    huge = profile.features(
        action_event(MONDAY_10H, action="data.export", data_bytes=5_000_000_000), [peer]
    )
    assert huge["volume_z"] > 5


def test_round_trip_through_json_keeps_features(action_event: EventFactory) -> None:
    profile, peer = PrincipalProfile("alice", utc_offset_hours=-5), PeerProfile("analyst")
    _habit(action_event, profile, peer)
    thawed = PrincipalProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    thawed_peer = PeerProfile.from_dict(json.loads(json.dumps(peer.to_dict())))
    probe = action_event(
        MONDAY_10H + 15 * DAY,
        action="data.export",
        resource="new",
        sensitivity="restricted",
        data_bytes=123_456,
    )
    assert thawed.features(probe, [thawed_peer]) == profile.features(probe, [peer])
    assert thawed.to_dict() == profile.to_dict()
    assert thawed_peer.to_dict() == peer.to_dict()


def test_state_stays_bounded(action_event: EventFactory) -> None:
    profile = PrincipalProfile("alice", max_resources=50, max_actions=10, max_sources=5)
    peer = PeerProfile("analyst", max_actions=20, max_sensitive_resources=30)
    for i in range(5000):
        event = action_event(
            MONDAY_10H + i * 1000,
            action=f"a.{i % 300}",
            resource=f"r{i}",
            sensitivity="restricted",
            source=f"s{i}",
        )
        profile.observe(event)
        peer.observe(event)
    assert len(profile.resources) == 50 and len(profile.actions) == 10
    assert len(profile.sources) == 5
    assert len(peer.actions) == 20 and len(peer.sensitive_resources) == 30
    assert len(json.dumps(profile.to_dict())) < 10_000
    assert len(json.dumps(peer.to_dict())) < 10_000
    # The most recent entries are the ones kept.
    assert "dataset/r4999" in profile.resources and "dataset/r0" not in profile.resources


def test_hour_histogram_decays_instead_of_growing(action_event: EventFactory) -> None:
    profile = PrincipalProfile("svc")
    for i in range(12_000):
        profile.observe(action_event(MONDAY_10H + i * MIN))
    assert sum(profile.hours) <= 5_000
    assert profile.events == 12_000


def test_late_events_count_in_the_open_minute(action_event: EventFactory) -> None:
    profile = PrincipalProfile("alice")
    profile.observe(action_event(MONDAY_10H + 10 * MIN))
    profile.observe(action_event(MONDAY_10H))  # arrives late
    assert profile.rate[1] == 2.0


def test_broken_events_name_the_field(action_event: EventFactory) -> None:
    event = action_event(MONDAY_10H)
    del event["resource"]["id"]
    with pytest.raises(DetectorInputError, match=r"resource\.id"):
        PrincipalProfile("alice").features(event)
    bad = action_event(MONDAY_10H, sensitivity="secret")
    with pytest.raises(DetectorInputError, match="sensitivity='secret'"):
        PrincipalProfile("alice").observe(bad)
    text_time = action_event(MONDAY_10H)
    text_time["occurred_at"] = "2024-01-01T10:00:00Z"
    with pytest.raises(DetectorInputError, match="epoch milliseconds"):
        PrincipalProfile("alice").observe(text_time)


def test_unknown_state_format_is_refused(action_event: EventFactory) -> None:
    with pytest.raises(DetectorInputError, match="format"):
        PrincipalProfile.from_dict({"format": 99})


def test_novelty_is_not_surprising_for_a_principal_whose_habit_it_is(
    action_event: EventFactory,
) -> None:
    crawler, settled = PrincipalProfile("crawler"), PrincipalProfile("alice")
    for i in range(200):
        at = MONDAY_10H + i * MIN
        crawler.observe(action_event(at, resource=f"page-{i}", source=f"10.0.{i % 250}.{i}"))
        settled.observe(action_event(at, resource=f"ds-{i % 3}", source="10.0.0.1"))
    event = action_event(MONDAY_10H + 201 * MIN, resource="new-one", source="203.0.113.9")
    novel, surprising = crawler.features(event), settled.features(event)
    assert novel["first_seen_resource"] < 0.1 and novel["first_seen_source"] < 0.1
    assert surprising["first_seen_resource"] > 0.9 and surprising["first_seen_source"] > 0.9


def test_no_rate_or_volume_baseline_before_the_first_window_closes(
    action_event: EventFactory,
) -> None:
    newcomer = PrincipalProfile("bob")
    for i in range(30):
        newcomer.observe(action_event(MONDAY_10H + i * 1000, data_bytes=10**6))
    f = newcomer.features(action_event(MONDAY_10H + 31_000, data_bytes=10**9))
    assert f["rate_log2"] == 0.0 and f["hourly_volume_log2"] == 0.0
    # With a baseline of one event a minute, the same burst stands out.
    steady = PrincipalProfile("carol")
    start = MONDAY_10H + 10 * MIN
    for i in range(10):
        steady.observe(action_event(start + i * MIN))
    for i in range(30):
        steady.observe(action_event(start + 10 * MIN + i * 1000))
    assert steady.features(action_event(start + 10 * MIN + 31_000))["rate_log2"] > 4.0
