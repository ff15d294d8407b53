"""Compiling conditions: located errors, type checking, the glob function, the model kind."""

from __future__ import annotations

import pytest

from clearance.rules import PolicyError, compile_pack, load_pack
from clearance.rules._compile import cel_environment, glob

RULE = """\
lists:
  levels: [confidential]
macros:
  agent: principal.type == "agent"
rules:
  - id: r1
    description: d
    match: {{kinds: [{kind}]}}
    condition: {condition}
    effect: deny
    severity: low
"""


def _compile(write_pack, condition: str, kind: str = "action"):
    return compile_pack(load_pack(write_pack(RULE.format(condition=condition, kind=kind))))


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ("'principal.typ == 1 && undeclared'", "undeclared reference to 'undeclared'"),
        ("'action.size_of == 1'", "cannot be the operand of a select"),
        ("'action +'", "Syntax error"),
        ("'occurred_at + 1'", "condition gives INT, not a bool"),
        ("'agent && resource.sensitivity in lists.levels && nope'", "after expanding macros"),
        ("'x in lists.absent'", "unknown list 'absent'"),
    ],
)
def test_condition_errors_name_file_line_and_rule(write_pack, condition, fragment) -> None:
    with pytest.raises(PolicyError) as raised:
        _compile(write_pack, condition)
    assert fragment in str(raised.value)
    assert (raised.value.file, raised.value.line, raised.value.rule_id) == ("rules.yaml", 9, "r1")


def test_expanded_text_is_shown_when_macros_changed_it(write_pack) -> None:
    with pytest.raises(PolicyError, match=r'\(principal\.type == "agent"\) && nope'):
        _compile(write_pack, "'agent && nope'")


def test_model_type_is_read_through_model_not_a_variable(write_pack) -> None:
    with pytest.raises(PolicyError, match=r"Fix: write model\.type or event\.type"):
        _compile(write_pack, "'type == \"deployment\"'", kind="model")
    policy = _compile(write_pack, "'model.type == \"deployment\"'", kind="model")
    event = {"type": "deployment", "environment": "prod", "model_id": "m", "model_version": "1"}
    assert policy.decide(event, "model").rule_ids == ("r1",)


def test_action_variables_are_not_model_variables(write_pack) -> None:
    with pytest.raises(PolicyError, match=r"undeclared reference to 'resource\.environment'"):
        _compile(write_pack, "'resource.environment == \"prod\"'", kind="model")


@pytest.mark.parametrize(
    ("action", "fires"), [("data.export", True), ("data.export.bulk", True), ("iam.grant", False)]
)
def test_glob_function_in_conditions(write_pack, make_event, action: str, fires: bool) -> None:
    policy = _compile(write_pack, "'glob(action, \"data.export*\")'")
    assert (policy.decide(make_event(action=action)).rule_ids == ("r1",)) is fires


def test_glob_is_case_sensitive_fnmatch() -> None:
    assert glob("data.read", "data.*")
    assert glob("data.read", "data.[rw]ead")
    assert not glob("Data.read", "data.*")


def test_environments_are_shared_per_kind() -> None:
    assert cel_environment("action") is cel_environment("action")
    assert cel_environment("action") is not cel_environment("model")
