"""Shared fixtures: a small seeded workload and features replayed from it."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from clearance.detectors import ACCESS_FEATURES, ProfileStore, Workload, generate_workload


@pytest.fixture(scope="session")
def small_workload() -> Workload:
    return generate_workload(seed=3, days=8, test_days=2, incidents=1)


@pytest.fixture(scope="session")
def replayed(small_workload: Workload) -> tuple[ProfileStore, list[dict[str, float]]]:
    store = ProfileStore()
    history, _, _ = small_workload.split()
    return store, store.replay(history)


@pytest.fixture(scope="session")
def train_matrix(replayed: tuple[ProfileStore, list[dict[str, float]]]) -> np.ndarray:
    _, rows = replayed
    matrix = np.array([[row[name] for name in ACCESS_FEATURES] for row in rows[2000:]])
    return matrix[:: max(1, len(matrix) // 3000)]


EventFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def action_event() -> EventFactory:
    """Build ActionEvent dicts: ``action_event(ms, principal=..., resource=..., ...)``."""
    return make_action_event


def make_action_event(
    ms: int,
    principal: str = "alice",
    action: str = "data.read",
    resource: str = "sales",
    sensitivity: str = "internal",
    roles: tuple[str, ...] = ("analyst",),
    source: str | None = "laptop-alice",
    data_bytes: int | None = 1000,
    resource_type: str = "dataset",
) -> dict[str, Any]:
    return {
        "event_id": f"e-{principal}-{ms}",
        "occurred_at": ms,
        "principal": {"id": principal, "type": "human", "roles": list(roles), "on_behalf_of": None},
        "action": action,
        "resource": {
            "type": resource_type,
            "id": resource,
            "environment": "prod",
            "sensitivity": sensitivity,
        },
        "session_id": None,
        "source": source,
        "data_bytes": data_bytes,
        "context": {},
    }
