"""Generated packs: the requested size, clean, and deciding their own events."""

from __future__ import annotations

import pytest

from clearance.rules import compile_pack, lint_pack, load_pack, synthetic_event, synthetic_pack


@pytest.mark.parametrize("n_rules", [7, 50, 51])
def test_synthetic_pack_has_n_rules_and_lints_clean(tmp_path, n_rules: int) -> None:
    root = synthetic_pack(n_rules, tmp_path / "pack")
    assert len(load_pack(root).rules) == n_rules
    assert lint_pack(root) == []


def test_synthetic_events_exercise_several_effects(tmp_path) -> None:
    policy = compile_pack(load_pack(synthetic_pack(50, tmp_path / "pack")))
    verdicts = [policy.decide(synthetic_event(index, 50)) for index in range(60)]
    assert {verdict.effect for verdict in verdicts} >= {"allow", "deny", "escalate"}
    assert all(verdict.condition_errors == () for verdict in verdicts)
    # Per-event work stays with the event's namespace: 2 global rules + up to 5 of its own.
    assert len(policy.rules_for("action", "svc3.data.read", "prod")) == 6


def test_smallest_synthetic_pack_has_only_the_global_rules(tmp_path) -> None:
    rules = load_pack(synthetic_pack(2, tmp_path / "pack")).rules
    assert [rule.id for rule in rules] == [
        "global.session.compromised.revoke",
        "global.anomaly.approval",
    ]


def test_synthetic_pack_needs_its_two_global_rules(tmp_path) -> None:
    with pytest.raises(ValueError, match="at least its 2 pack-wide rules"):
        synthetic_pack(1, tmp_path)
