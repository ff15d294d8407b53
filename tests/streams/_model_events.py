"""Model events for the tests: a registration, production windows, evaluations, deployments."""

from __future__ import annotations

from typing import Any

import numpy as np

from clearance.detectors import categorical_distribution, numeric_distribution

BASE_MS = 1_790_000_000_000


def model_event(kind: str, model_id: str, version: str, n: int, **fields: Any) -> dict[str, Any]:
    """A ModelEvent dict (the codec's shape) with a unique id per (model, kind, n)."""
    return {
        "event_id": f"{model_id}-{version}-{kind}-{n}",
        "occurred_at": BASE_MS + n * 60_000,
        "model_id": model_id,
        "model_version": version,
        "type": kind,
        "environment": "prod",
        "actor": None,
        "features": [],
        "metrics": {},
        "passed": None,
        "from_environment": None,
        "context": {},
        **fields,
    }


def window(seed: int, shift: float, edges: list[float] | None = None) -> list[dict[str, Any]]:
    """Distributions of two features; ``shift`` moves the numeric one, in standard deviations."""
    rng = np.random.default_rng(seed)
    return [
        numeric_distribution("tenure", rng.normal(24 + 6 * shift, 6, 3000), edges, sample_size=300),
        categorical_distribution("plan", rng.choice(["basic", "pro"], 3000, p=[0.7, 0.3])),
    ]


def lifecycle(model_id: str, version: str, drift_shift: float) -> list[dict[str, Any]]:
    """Register, a quiet window, a passing evaluation, a prod promotion, a window shifted by
    ``drift_shift`` standard deviations."""
    reference = window(1, 0.0)
    edges = reference[0]["bin_edges"]
    return [
        model_event("registered", model_id, version, 0, features=reference, environment="staging"),
        model_event("production_window", model_id, version, 1, features=window(2, 0.0, edges)),
        model_event("evaluation", model_id, version, 2, passed=True, metrics={"auc": 0.9}),
        model_event(
            "deployment", model_id, version, 3, environment="prod", from_environment="staging"
        ),
        model_event(
            "production_window", model_id, version, 4, features=window(3, drift_shift, edges)
        ),
    ]
