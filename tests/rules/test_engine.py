"""Deciding events: combination order, defaults, the glob index, fail-closed errors, approvals."""

from __future__ import annotations

import datetime as dt
import fnmatch
import itertools
from dataclasses import FrozenInstanceError
from types import SimpleNamespace

import pytest

from clearance.errors import ClearanceError
from clearance.rules import (
    ApprovalRequirement,
    CompiledPolicy,
    Rule,
    RuleMatch,
    Verdict,
    compile_pack,
    load_pack,
    merge_approvals,
)
from clearance.rules import engine as engine_module

# One rule per effect, each fired by its own context flag, in this pack order.
FLAGGED = """\
rules:
  - id: r.allow
    description: allow when flagged
    condition: has(context.allow) && context.allow == true
    effect: allow
    severity: info
  - id: r.escalate
    description: escalate when flagged
    condition: has(context.escalate) && context.escalate == true
    effect: escalate
    severity: medium
    approval: {roles: [sre]}
  - id: r.revoke
    description: revoke when flagged
    condition: has(context.revoke) && context.revoke == true
    effect: revoke
    severity: high
  - id: r.deny
    description: deny when flagged
    condition: has(context.deny) && context.deny == true
    effect: deny
    severity: low
"""
EFFECT_ORDER = ("allow", "escalate", "revoke", "deny")


def _policy(write_pack, text: str) -> CompiledPolicy:
    return compile_pack(load_pack(write_pack(text)))


@pytest.mark.parametrize(
    "flags",
    [set(combo) for n in range(1, 5) for combo in itertools.combinations(EFFECT_ORDER, n)],
    ids=lambda flags: "+".join(sorted(flags)),
)
def test_combination_deny_over_revoke_over_escalate_over_allow(
    write_pack, make_event, flags: set[str]
) -> None:
    policy = _policy(write_pack, FLAGGED)
    verdict = policy.decide(make_event(context={flag: True for flag in flags}))
    expected = next(effect for effect in ("deny", "revoke", "escalate", "allow") if effect in flags)
    assert verdict.effect == expected
    assert verdict.rule_ids == tuple(f"r.{e}" for e in EFFECT_ORDER if e in flags)
    assert verdict.reasons == tuple(f"{e} when flagged" for e in EFFECT_ORDER if e in flags)
    ranks = {"allow": 0, "deny": 1, "escalate": 2, "revoke": 3}  # info, low, medium, high
    strongest = max(flags, key=ranks.__getitem__)
    assert verdict.severity == ("info", "low", "medium", "high")[ranks[strongest]]
    assert (verdict.approval is not None) is (expected == "escalate")
    assert verdict.policy_version == policy.version


def test_nothing_fires_gives_the_default_effect(write_pack, make_event) -> None:
    verdict = _policy(write_pack, FLAGGED).decide(make_event())
    assert verdict == Verdict(
        effect="deny",
        rule_ids=(),
        reasons=("no rule matched; default effect deny",),
        severity="info",
        approval=None,
        policy_version=verdict.policy_version,
    )


@pytest.mark.parametrize("effect", ["allow", "revoke", "deny"])
def test_default_effect_is_configurable(write_pack, make_event, effect: str) -> None:
    text = f"pack: {{default_effect: {effect}, default_severity: medium}}\n" + FLAGGED
    verdict = _policy(write_pack, text).decide(make_event())
    assert (verdict.effect, verdict.severity) == (effect, "medium")
    assert verdict.reasons == (f"no rule matched; default effect {effect}",)


def test_default_escalation_carries_the_default_approval(write_pack, make_event) -> None:
    text = (
        "pack:\n  default_effect: escalate\n  default_reason: nobody decided; ask\n"
        "  default_approval: {roles: [security-admin], quorum: 2}\n" + FLAGGED
    )
    verdict = _policy(write_pack, text).decide(make_event())
    assert verdict.effect == "escalate"
    assert verdict.reasons == ("nobody decided; ask",)
    assert verdict.approval == ApprovalRequirement(roles=("security-admin",), quorum=2)


def test_verdict_is_frozen(write_pack, make_event) -> None:
    verdict = _policy(write_pack, FLAGGED).decide(make_event())
    with pytest.raises(FrozenInstanceError):
        verdict.effect = "allow"  # type: ignore[misc]


INDEXED = """\
rules:
  - id: exact.read
    description: d
    match: {actions: [data.read]}
    effect: allow
    severity: info
  - id: glob.data
    description: d
    match: {actions: ["data.*"], environments: [prod]}
    effect: deny
    severity: low
  - id: glob.everything
    description: d
    match: {actions: ["*"], environments: [dev, staging]}
    effect: allow
    severity: info
  - id: model.only
    description: d
    match: {kinds: [model], actions: ["model.*"]}
    effect: allow
    severity: info
  - id: two.patterns
    description: d
    match: {actions: [iam.role.grant, "iam.*.grant", "data.rea?"]}
    effect: escalate
    severity: high
    approval: {roles: [security-admin]}
"""


@pytest.mark.parametrize(
    ("kind", "action", "environment", "expected"),
    [
        ("action", "data.read", "prod", ["exact.read", "glob.data", "two.patterns"]),
        ("action", "data.read", "dev", ["exact.read", "glob.everything", "two.patterns"]),
        ("action", "data.read", None, ["exact.read", "two.patterns"]),
        ("action", "data.export", "prod", ["glob.data"]),
        ("action", "iam.role.grant", "prod", ["two.patterns"]),
        ("action", "iam.policy.grant", "test", ["two.patterns"]),
        ("action", "model.deployment", "prod", []),
        ("model", "model.deployment", "prod", ["model.only"]),
    ],
)
def test_rules_for_uses_exact_actions_globs_and_environments(
    write_pack, kind, action, environment, expected
) -> None:
    policy = _policy(write_pack, INDEXED)
    assert [rule.id for rule in policy.rules_for(kind, action, environment)] == expected


def test_globs_are_matched_once_per_distinct_action(write_pack, make_event, monkeypatch) -> None:
    many_globs = "rules:\n" + "".join(
        f'  - id: ns{i}.any\n    description: d\n    match: {{actions: ["ns{i}.*"]}}\n'
        "    effect: deny\n    severity: low\n"
        for i in range(60)
    )
    policy = _policy(write_pack, many_globs)
    calls: list[tuple[str, str]] = []
    original = fnmatch.fnmatchcase

    def counting(name: str, pattern: str) -> bool:
        calls.append((name, pattern))
        return original(name, pattern)

    monkeypatch.setattr(engine_module.fnmatch, "fnmatchcase", counting)
    for _ in range(5):
        assert policy.decide(make_event(action="ns7.data.read")).rule_ids == ("ns7.any",)
        assert policy.decide(make_event(action="other.read")).rule_ids == ()
    assert len(calls) == 2 * 60  # each distinct action against each glob, once


def test_plan_cache_is_bounded(write_pack, make_event, monkeypatch) -> None:
    monkeypatch.setattr(engine_module, "PLAN_CACHE_SIZE", 3)
    policy = _policy(write_pack, INDEXED)
    for index in range(10):
        policy.decide(make_event(action=f"data.x{index}"))
    assert len(policy._plans) <= 3
    assert policy.decide(make_event(action="data.read")).rule_ids == (
        "exact.read",
        "glob.data",
        "two.patterns",
    )


ERRORING = """\
rules:
  - id: allow.broken
    description: allow that reads a missing key
    condition: context.ticket == "T-1"
    effect: allow
    severity: info
  - id: deny.broken
    description: deny that reads a missing key
    condition: context.ticket == "T-1"
    effect: deny
    severity: high
  - id: escalate.null
    description: escalate that compares null
    condition: data_bytes > 1000
    effect: escalate
    severity: medium
    approval: {roles: [sre]}
"""


def test_condition_errors_fail_closed(write_pack, make_event) -> None:
    policy = _policy(write_pack, ERRORING)
    verdict = policy.decide(make_event())
    assert verdict.effect == "deny"
    assert verdict.rule_ids == ("deny.broken", "escalate.null")
    assert all(reason.startswith("condition error: ") for reason in verdict.reasons)
    assert "fails closed" in verdict.reasons[0]
    assert [error.split(":")[0] for error in verdict.condition_errors] == [
        "allow.broken",
        "deny.broken",
        "escalate.null",
    ]
    assert 'Key not found in map : "ticket"' in verdict.condition_errors[0]


def test_without_errors_the_same_rules_decide_normally(write_pack, make_event) -> None:
    policy = _policy(write_pack, ERRORING)
    verdict = policy.decide(make_event(context={"ticket": "T-1"}, data_bytes=10))
    assert verdict.rule_ids == ("allow.broken", "deny.broken")
    assert verdict.condition_errors == ()


def test_an_erroring_allow_rule_alone_gives_the_default(write_pack, make_event) -> None:
    text = ERRORING.split("  - id: deny.broken")[0]
    verdict = _policy(write_pack, text).decide(make_event())
    assert (verdict.effect, verdict.rule_ids) == ("deny", ())
    assert len(verdict.condition_errors) == 1


def test_a_non_bool_result_is_an_error(write_pack, make_event) -> None:
    text = """\
    rules:
      - id: dyn.deny
        description: d
        condition: context.flag
        effect: deny
        severity: low
      - id: other.allow
        description: d
        condition: context.flag == "yes"
        effect: allow
        severity: info
    """
    verdict = _policy(write_pack, text).decide(make_event(context={"flag": "yes"}))
    assert verdict.rule_ids == ("dyn.deny", "other.allow")
    assert "not a bool" in verdict.reasons[0]
    assert verdict.effect == "deny"


def test_an_event_that_cannot_become_cel_values_fails_closed(write_pack, make_event) -> None:
    principal = {"id": "a", "type": "human", "roles": ("tuple",), "on_behalf_of": None}
    verdict = _policy(write_pack, FLAGGED).decide(
        make_event(principal=principal, context={"deny": object()})
    )
    assert verdict.effect == "deny"
    assert verdict.rule_ids == ("r.escalate", "r.revoke", "r.deny")
    assert "Non-CEL value type" in verdict.reasons[0]


def test_reason_templates_render_event_fields(write_pack, make_event) -> None:
    text = """\
    rules:
      - id: r
        description: d
        reason: "{principal.id} did {action} on {resource.id} ({context.ticket}) {{literal}}"
        effect: deny
        severity: low
    """
    verdict = _policy(write_pack, text).decide(make_event(action="data.export"))
    assert verdict.reasons == ("alice did data.export on customers (<none>) {literal}",)


def test_disabled_rules_never_fire(write_pack, make_event) -> None:
    text = FLAGGED.replace("    effect: deny\n", "    effect: deny\n    enabled: false\n")
    policy = _policy(write_pack, text)
    assert policy.decide(make_event(context={"deny": True})).rule_ids == ()
    assert "r.deny" not in [rule.id for rule in policy.rules_for("action", "data.read", "prod")]


DETECTOR = """\
rules:
  - id: risky
    description: d
    condition: >-
      has(detectors.access) && detectors.access.score >= 0.9
      && detectors.access.label != "ok"
    effect: deny
    severity: high
"""


@pytest.mark.parametrize(
    ("detectors", "fires"),
    [
        (None, False),
        ({}, False),
        ({"other": {"score": 1.0}}, False),
        ({"access": {"score": 0.95, "label": "odd"}}, True),
        ({"access": {"score": 1, "label": "odd"}}, True),
        ({"access": {"score": 0.95, "label": "ok"}}, False),
        ({"access": 0.99}, True),
        ({"access": SimpleNamespace(score=0.91, label="odd")}, True),
    ],
)
def test_detectors_variable(write_pack, make_event, detectors, fires: bool) -> None:
    verdict = _policy(write_pack, DETECTOR).decide(make_event(), detectors=detectors)
    assert (verdict.rule_ids == ("risky",)) is fires
    assert verdict.condition_errors == ()


def test_detector_without_score_is_a_caller_error(write_pack, make_event) -> None:
    with pytest.raises(ClearanceError, match="detector result 'access' has no numeric score"):
        _policy(write_pack, DETECTOR).decide(make_event(), detectors={"access": {"label": "x"}})


def test_model_events_match_on_model_type_and_environment(write_pack) -> None:
    text = """\
    rules:
      - id: promote
        description: d
        match: {kinds: [model], actions: [model.deployment], environments: [prod]}
        condition: model.passed == true && metrics.auc > 0.8 && action == "model.deployment"
        effect: allow
        severity: info
    """
    policy = _policy(write_pack, text)
    event = {
        "event_id": "m1",
        "occurred_at": 1,
        "model_id": "churn",
        "model_version": "3",
        "type": "deployment",
        "environment": "prod",
        "passed": True,
        "metrics": {"auc": 0.9},
    }
    assert policy.decide(event, "model").rule_ids == ("promote",)
    assert policy.decide({**event, "environment": "dev"}, "model").rule_ids == ()
    assert policy.decide({**event, "type": "evaluation"}, "model").rule_ids == ()


def test_occurred_at_datetimes_become_millis(write_pack, make_event) -> None:
    text = """\
    rules:
      - id: after
        description: d
        condition: occurred_at == 1700000000123
        effect: deny
        severity: low
    """
    policy = _policy(write_pack, text)
    when = dt.datetime.fromtimestamp(1_700_000_000.123, tz=dt.UTC)
    assert policy.decide(make_event(occurred_at=when)).rule_ids == ("after",)
    assert policy.decide(make_event(occurred_at=1_700_000_000_123)).rule_ids == ("after",)


def test_decide_many_matches_decide(write_pack, make_event) -> None:
    policy = _policy(write_pack, FLAGGED + DETECTOR.replace("rules:\n", ""))
    events = [make_event(context={"allow": True}), make_event(), make_event(context={"deny": True})]
    detectors = [None, {"access": {"score": 0.99, "label": "x"}}, {}]
    assert policy.decide_many(events, "action", detectors) == [
        policy.decide(event, "action", found)
        for event, found in zip(events, detectors, strict=True)
    ]
    assert policy.decide_many(events) == [policy.decide(event) for event in events]
    with pytest.raises(ClearanceError, match="3 events but 2 detector results"):
        policy.decide_many(events, "action", detectors[:2])


def test_unknown_kind_is_a_caller_error(write_pack, make_event) -> None:
    with pytest.raises(ClearanceError, match="unknown event kind 'request'"):
        _policy(write_pack, FLAGGED).decide(make_event(), kind="request")  # type: ignore[arg-type]


def _escalation(severity: str, **approval) -> Rule:
    return Rule(
        id=f"r.{severity}.{len(approval)}",
        description="d",
        match=RuleMatch(),
        condition=None,
        effect="escalate",
        severity=severity,  # type: ignore[arg-type]
        approval=ApprovalRequirement(**approval),
    )


def test_merge_approvals_takes_the_strictest() -> None:
    merged = merge_approvals(
        [
            _escalation("medium", roles=("sre",), quorum=1, timeout_seconds=600, grant="window"),
            _escalation(
                "critical",
                roles=("security-admin",),
                quorum=2,
                deny_quorum=2,
                timeout_seconds=900,
                grant="window",
                max_duration_seconds=1800,
                break_glass_roles=("incident-commander",),
            ),
            _escalation("critical", roles=("ciso",), quorum=1),
        ]
    )
    assert merged == ApprovalRequirement(
        roles=("security-admin",),
        quorum=2,
        deny_quorum=1,
        timeout_seconds=600,
        grant="one_time",
        max_duration_seconds=1800,
        break_glass_roles=("incident-commander",),
    )


def test_merge_approvals_keeps_a_window_when_all_ask_for_one() -> None:
    merged = merge_approvals(
        [
            _escalation("low", roles=("a",), grant="window", max_duration_seconds=7200),
            _escalation("low", roles=("b",), grant="window", max_duration_seconds=3600),
        ]
    )
    assert merged is not None
    assert (merged.roles, merged.grant, merged.max_duration_seconds) == (("a",), "window", 3600)
    assert merge_approvals([]) is None


def test_conditions_run_as_one_program_unless_one_errors(write_pack, make_event, monkeypatch):
    policy = _policy(write_pack, ERRORING)
    one_by_one: list[str] = []
    original = engine_module.CompiledCondition.outcome

    def counting(self, activation):
        one_by_one.append(self.source)
        return original(self, activation)

    monkeypatch.setattr(engine_module.CompiledCondition, "outcome", counting)
    verdict = policy.decide(make_event(context={"ticket": "T-1"}, data_bytes=10))
    assert verdict.rule_ids == ("allow.broken", "deny.broken")
    assert one_by_one == []
    verdict = policy.decide(make_event(context={"ticket": "T-2"}))
    assert len(one_by_one) == 3
    assert verdict.rule_ids == ("escalate.null",)
    assert [error.split(":")[0] for error in verdict.condition_errors] == ["escalate.null"]
