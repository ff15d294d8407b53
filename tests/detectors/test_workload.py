from collections import Counter

import pytest

from clearance.detectors import INCIDENT_KINDS, DetectorError, Workload, generate_workload


def test_same_seed_same_workload() -> None:
    a = generate_workload(seed=9, days=3, test_days=1, incidents=1)
    b = generate_workload(seed=9, days=3, test_days=1, incidents=1)
    c = generate_workload(seed=10, days=3, test_days=1, incidents=1)
    assert a.events == b.events and a.labels == b.labels
    assert a.events != c.events


def test_events_are_ordered_schema_shaped_and_incidents_only_in_test(
    small_workload: Workload,
) -> None:
    events, labels = small_workload.events, small_workload.labels
    assert len(events) == len(labels)
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times)
    assert len({e["event_id"] for e in events}) == len(events)
    required = {
        "event_id",
        "occurred_at",
        "principal",
        "action",
        "resource",
        "session_id",
        "source",
        "data_bytes",
        "context",
    }
    assert all(required <= set(e) for e in events)
    assert {e["principal"]["type"] for e in events} == {"human", "agent", "pipeline"}
    counts = Counter(label for label in labels if label)
    assert set(counts) == set(INCIDENT_KINDS)
    assert all(
        e["occurred_at"] >= small_workload.test_start_ms
        for e, label in zip(events, labels, strict=True)
        if label
    )


def test_clean_workload_has_no_incidents() -> None:
    workload = generate_workload(seed=1, days=3, test_days=1, incidents=0)
    assert not any(workload.labels)


def test_bad_split_is_refused() -> None:
    with pytest.raises(DetectorError, match="test_days"):
        generate_workload(days=3, test_days=3)
