"""Baseline (b)'s rule-by-rule evaluation gives the engine's verdict."""

from __future__ import annotations

from pathlib import Path

from clearance.bench._pack import bench_pack
from clearance.bench.naive_faust import RuleByRule
from clearance.rules import compile_pack, load_pack
from clearance.traffic import TrafficGenerator


def test_rule_by_rule_decides_as_the_compiled_policy(tmp_path: Path) -> None:
    pack = load_pack(bench_pack(tmp_path, 50)[0])
    engine, naive = compile_pack(pack), RuleByRule(pack)
    events = list(TrafficGenerator(seed=11).events(3000))
    events[0]["context"]["session_compromised"] = True
    effects = set()
    for event in events:
        expected, got = engine.decide(event), naive.decide(event)
        assert got == expected, event["event_id"]
        effects.add(got.effect)
    assert effects == {"allow", "deny", "escalate", "revoke"}
