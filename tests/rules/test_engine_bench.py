"""Micro-benchmarks of CompiledPolicy.decide (pytest-benchmark).

Run with timing: ``.venv/bin/pytest tests/rules/test_engine_bench.py --benchmark-enable``.
Without ``--benchmark-enable`` each benchmark runs once, as a correctness test.
"""

from __future__ import annotations

import itertools

import pytest

from clearance.rules import (
    DEFAULT_PACK_PATH,
    compile_pack,
    load_pack,
    synthetic_event,
    synthetic_pack,
)

pytestmark = pytest.mark.benchmark

DEFAULT_PACK_EVENTS = [
    {
        "event_id": f"evt-{index}",
        "occurred_at": 1_700_000_000_000 + index,
        "principal": {
            "id": f"agent-{index % 5}",
            "type": ("agent", "human")[index % 2],
            "roles": [["data-reader-confidential"], [], ["sre"]][index % 3],
            "on_behalf_of": None if index % 4 == 0 else "alice",
        },
        "action": ("data.read", "data.export", "iam.role.grant", "infra.cluster.delete")[index % 4],
        "resource": {
            "type": "dataset",
            "id": f"res-{index % 7}",
            "environment": ("prod", "staging", "dev")[index % 3],
            "sensitivity": ("public", "internal", "confidential", "restricted")[index % 4],
        },
        "session_id": f"sess-{index % 3}",
        "source": "10.0.0.1",
        "data_bytes": None if index % 2 else 1_000_000 * index,
        "context": {"ticket": f"T-{index}", "session_compromised": index % 16 == 5},
    }
    for index in range(64)
]


def test_decide_default_pack(benchmark) -> None:
    policy = compile_pack(load_pack(DEFAULT_PACK_PATH))
    events = itertools.cycle(DEFAULT_PACK_EVENTS)
    detectors = {"access": {"score": 0.3, "label": "normal"}}

    for event in DEFAULT_PACK_EVENTS:  # steady state: every (action, environment) plan cached
        policy.decide(event, "action", detectors)

    verdict = benchmark(lambda: policy.decide(next(events), "action", detectors))

    assert verdict.policy_version == policy.version
    effects = {policy.decide(event, "action", detectors).effect for event in DEFAULT_PACK_EVENTS}
    assert effects == {"allow", "deny", "escalate", "revoke"}


def test_decide_generated_50_rule_pack(benchmark, tmp_path) -> None:
    policy = compile_pack(load_pack(synthetic_pack(50, tmp_path / "pack")))
    sample = [synthetic_event(index, 50) for index in range(64)]
    events = itertools.cycle(sample)

    for event in sample:
        policy.decide(event)

    verdict = benchmark(lambda: policy.decide(next(events)))

    assert verdict.policy_version == policy.version
    assert all(policy.decide(event).condition_errors == () for event in sample)


def test_decide_many_default_pack(benchmark) -> None:
    policy = compile_pack(load_pack(DEFAULT_PACK_PATH))

    policy.decide_many(DEFAULT_PACK_EVENTS)

    verdicts = benchmark(lambda: policy.decide_many(DEFAULT_PACK_EVENTS))

    assert verdicts == [policy.decide(event) for event in DEFAULT_PACK_EVENTS]
