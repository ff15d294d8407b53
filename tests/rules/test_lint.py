"""Lint: each finding triggered by a concrete bad pack, and the shipped pack is clean."""

from __future__ import annotations

import pytest

from clearance.rules import DEFAULT_PACK_PATH, LintFinding, lint_pack


def _rule(
    condition: str | None = None,
    match: str = "{}",
    effect: str = "deny",
    extra: str = "",
    rule_id: str = "r1",
) -> str:
    text = f"  - id: {rule_id}\n    description: d\n    match: {match}\n"
    if condition is not None:
        text += f"    condition: {condition}\n"
    return text + f"    effect: {effect}\n    severity: low\n{extra}"


def _lint(write_pack, rules: str, header: str = "", **kwargs) -> list[LintFinding]:
    return lint_pack(write_pack({"rules.yaml": header + "rules:\n" + rules}), **kwargs)


def _only(findings: list[LintFinding]) -> LintFinding:
    assert len(findings) == 1, [str(f) for f in findings]
    return findings[0]


def test_shipped_default_pack_is_clean() -> None:
    assert lint_pack(DEFAULT_PACK_PATH) == []


def test_bad_cel_reports_the_compiler_message(write_pack) -> None:
    finding = _only(_lint(write_pack, _rule("'resource.environment = \"prod\"'")))
    assert (finding.severity, finding.file, finding.line, finding.rule_id) == (
        "error",
        "rules.yaml",
        5,
        "r1",
    )
    assert "condition does not compile for action events" in finding.message
    assert "Syntax error" in finding.message


@pytest.mark.parametrize(
    ("condition", "unknown"),
    [
        ("'resource.sensitivty == \"restricted\"'", "resource.sensitivty"),
        ("'has(principal.role)'", "principal.role"),
        ("'detectors.access.scroe > 0.5'", "detectors.access.scroe"),
        ("'event.principal.nmae == \"x\"'", "event.principal.nmae"),
        ("'resource.id.length == 1'", "resource.id.length"),
    ],
)
def test_unknown_fields_are_errors(write_pack, condition: str, unknown: str) -> None:
    finding = _only(_lint(write_pack, _rule(condition)))
    assert finding.severity == "error"
    assert f"condition reads {unknown}, which action events do not have" in finding.message


def test_unknown_model_fields_are_errors(write_pack) -> None:
    rules = _rule("'model.pased == true || actor.idd == \"x\"'", match="{kinds: [model]}")
    messages = [f.message for f in _lint(write_pack, rules)]
    assert len(messages) == 2
    assert any("model.pased" in m for m in messages)
    assert any("actor.idd" in m for m in messages)


def test_free_form_maps_are_not_judged(write_pack) -> None:
    condition = (
        "'context.anything == 1 || detectors.whatever.score > 0.1"
        ' || principal.roles.exists(r, r.x == 1) || event.context.ticket == "T"\''
    )
    assert _lint(write_pack, _rule(condition)) == []


def test_unknown_environment_is_a_warning(write_pack) -> None:
    finding = _only(_lint(write_pack, _rule(match="{environments: [prod, prdo]}")))
    assert finding.severity == "warning"
    assert "unknown environment(s) prdo" in finding.message


def test_known_environments_come_from_the_pack_or_the_caller(write_pack) -> None:
    rules = _rule(match="{environments: [qa]}")
    assert _lint(write_pack, rules, header="pack: {environments: [qa, prod]}\n") == []
    assert _lint(write_pack, rules, known_environments=["qa"]) == []
    assert len(_lint(write_pack, rules, known_environments=["prod"])) == 1


@pytest.mark.parametrize(
    ("match", "fragment"),
    [
        ("{kinds: [model], actions: [model.deploy]}", "can never match model events"),
        ('{kinds: [model], actions: ["data.*"]}', "can never match model events"),
        ("{actions: [Data.Export]}", "action names are dotted lowercase"),
        ('{actions: ["data export"]}', "action names are dotted lowercase"),
        ("{actions: []}", "match.actions is empty"),
        ("{kinds: []}", "match.kinds is empty"),
        ("{environments: []}", "match.environments is empty"),
    ],
)
def test_matches_that_never_match_are_warnings(write_pack, match: str, fragment: str) -> None:
    finding = _only(_lint(write_pack, _rule(match=match)))
    assert finding.severity == "warning"
    assert fragment in finding.message


def test_known_actions_flag_patterns_matching_none(write_pack) -> None:
    rules = _rule(match='{actions: ["infra.*"]}')
    finding = _only(_lint(write_pack, rules, known_actions=["data.read", "iam.role.grant"]))
    assert "matches none of the known actions" in finding.message
    assert _lint(write_pack, rules, known_actions=["infra.cluster.delete"]) == []


@pytest.mark.parametrize("condition", ["'false'", "'1 > 2'", '\'"a" in ["b"]\'', "false"])
def test_constant_false_condition_is_a_warning(write_pack, condition: str) -> None:
    finding = _only(_lint(write_pack, _rule(condition)))
    assert finding.severity == "warning"
    assert "always false" in finding.message


def test_constant_true_condition_is_fine(write_pack) -> None:
    assert _lint(write_pack, _rule("'1 < 2'")) == []


def test_duplicate_ids_are_errors(write_pack) -> None:
    findings = _lint(write_pack, _rule() + _rule())
    finding = _only(findings)
    assert finding.severity == "error"
    assert "rule id 'r1' is already used at rules.yaml:2" in finding.message


def test_escalate_without_roles_is_an_error(write_pack) -> None:
    rules = _rule(effect="escalate", extra="    approval: {quorum: 2}\n")
    finding = _only(_lint(write_pack, rules))
    assert finding.severity == "error"
    assert "approval.roles is required" in finding.message


@pytest.mark.parametrize(
    ("effect", "severity", "fragment"),
    [("block", "low", "effect must be one of"), ("deny", "urgent", "severity must be one of")],
)
def test_unknown_effect_or_severity_is_an_error(write_pack, effect, severity, fragment) -> None:
    rules = _rule(effect=effect).replace("severity: low", f"severity: {severity}")
    finding = _only(_lint(write_pack, rules))
    assert finding.severity == "error"
    assert fragment in finding.message


def test_unused_macros_and_lists_are_warnings(write_pack) -> None:
    header = (
        "lists:\n  used: [a]\n  spare: [b]\n"
        "macros:\n  uses_list: action in lists.used\n  idle: 'true'\n"
    )
    findings = _lint(write_pack, _rule("uses_list"), header=header)
    assert sorted(f.message for f in findings) == [
        "list 'spare' is never used",
        "macro 'idle' is never used",
    ]
    assert {(f.file, f.line) for f in findings} == {("rules.yaml", 3), ("rules.yaml", 6)}


def test_unknown_reason_placeholders_are_warnings(write_pack) -> None:
    extra = "    reason: '{principal.idd} on {nothing}'\n"
    messages = sorted(f.message for f in _lint(write_pack, _rule(extra=extra)))
    assert len(messages) == 2
    assert "reads principal.idd" in messages[1]
    assert "{nothing} is not a variable of action events" in messages[0]


def test_every_problem_is_reported_errors_first(write_pack) -> None:
    rules = (
        _rule(match="{environments: [qa]}", rule_id="a")
        + _rule("'resource.nope == 1'", rule_id="b")
        + _rule(effect="maybe", rule_id="c")
    )
    findings = _lint(write_pack, rules)
    assert [(f.rule_id, f.severity) for f in findings] == [
        ("b", "error"),
        ("c", "error"),
        ("a", "warning"),
    ]


def test_missing_pack_is_one_error(tmp_path) -> None:
    finding = _only(lint_pack(tmp_path / "absent"))
    assert finding.severity == "error"
    assert "does not exist" in finding.message


def test_finding_text_names_file_line_severity_and_rule() -> None:
    finding = LintFinding("a.yaml", 3, "r1", "warning", "something")
    assert str(finding) == "a.yaml:3: warning: rule 'r1': something"
    assert str(LintFinding(None, None, None, "error", "x")) == "<pack>: error: x"
