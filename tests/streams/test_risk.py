"""AccessRisk: scores reach the policy, and profiles survive a hand-over through load/save."""

from __future__ import annotations

from typing import Any

import pytest

from clearance.detectors import cold_start_model
from clearance.streams.risk import AccessRisk
from clearance.traffic import TrafficGenerator


@pytest.fixture(scope="module")
def model() -> Any:
    return cold_start_model()


def test_every_event_gets_an_access_score_with_an_explanation(model: Any) -> None:
    events = list(TrafficGenerator(seed=2).events(50))
    assessed = AccessRisk(model).assess(events, [0] * len(events))
    assert len(assessed) == len(events)
    for a in assessed:
        score = a.detectors["access"]["score"]
        assert 0.0 <= score <= 1.0 and a.scores == {"access": score}
        assert a.explanations and a.explanations[0].startswith("access ")


def test_profiles_saved_by_one_worker_are_loaded_by_the_next(model: Any) -> None:
    saved: dict[str, Any] = {}
    generator = TrafficGenerator(seed=4, principals_per_kind=1)
    # A principal's habits need time: one event a minute over a few hours.
    events = [generator.event(now_ms=1_790_000_000_000 + i * 60_000) for i in range(300)]
    first = AccessRisk(model, save=lambda p, key, state: saved.__setitem__(key, state))
    first.assess(events, [1] * len(events))
    assert first.flush(force=True) == len(saved) > 0
    assert any(key.startswith("principal:") for key in saved)
    assert any(key.startswith("peers:1:") for key in saved)

    repeat = events[-1]
    # A worker that takes the partition over scores as the first worker would have ...
    warm = AccessRisk(model, load=saved.get).assess([repeat], [1])[0]
    assert warm == first.assess([repeat], [1])[0]
    # ... while one without the saved profiles sees a stranger.
    cold = AccessRisk(model).assess([repeat], [1])[0]
    assert cold != warm


def test_profiles_are_written_at_most_once_per_flush_interval(model: Any) -> None:
    writes: list[str] = []
    events = list(TrafficGenerator(seed=5, principals_per_kind=2).events(40))
    risk = AccessRisk(model, save=lambda p, key, state: writes.append(key), flush_interval_s=60)
    risk.assess(events[:20], [0] * 20)
    assert risk.flush() == 0 and not writes  # within the interval: nothing written yet
    risk.assess(events[20:], [0] * 20)
    changed = {f"principal:{e['principal']['id']}" for e in events}
    # Forced (or once the interval passed), each changed profile is written once, with the
    # state after both batches.
    assert risk.flush(force=True) == len(writes) == len(set(writes))
    assert changed <= set(writes)
    assert risk.flush(force=True) == 0


def test_one_batch_over_partitions_scores_as_each_partition_alone(model: Any) -> None:
    events = list(TrafficGenerator(seed=6).events(200))
    partitions = [hash(e["principal"]["id"]) % 3 for e in events]
    together = AccessRisk(model).assess(events, partitions)
    alone = AccessRisk(model)
    by_partition = {
        p: alone.assess(
            [e for e, q in zip(events, partitions, strict=True) if q == p],
            [p] * partitions.count(p),
        )
        for p in set(partitions)
    }
    seen = {p: 0 for p in by_partition}
    for a, p in zip(together, partitions, strict=True):
        b = by_partition[p][seen[p]]
        seen[p] += 1
        assert a == b


def test_partitions_are_replayed_and_saved_in_the_order_they_first_appear(model: Any) -> None:
    events = list(TrafficGenerator(seed=7).events(30))
    partitions = [2] + [0] * 28 + [1]  # two partitions with one event each
    peers_saved: list[int] = []

    def save(partition: int, key: str, state: Any) -> None:
        if key.startswith("peers:"):
            peers_saved.append(partition)

    risk = AccessRisk(model, save=save)
    assessed = risk.assess(events, partitions)
    assert assessed[0] == AccessRisk(model).assess(events[:1], [2])[0]
    risk.flush(force=True)
    assert list(dict.fromkeys(peers_saved)) == [2, 0, 1]
