"""The policy test runner: PASS/FAIL per case, messages, coverage, malformed test files."""

from __future__ import annotations

import pytest

from clearance.rules import PolicyError, run_policy_tests
from clearance.rules._testing import default_event

PACK = """\
rules:
  - id: export.sensitive.approval
    description: sensitive exports need a steward
    match: {actions: ["data.export*"]}
    condition: resource.sensitivity in ["confidential", "restricted"]
    effect: escalate
    severity: high
    approval: {roles: [data-steward], quorum: 2}
  - id: read.allow
    description: reads pass
    match: {actions: [data.read]}
    effect: allow
    severity: info
  - id: never.tested
    description: nobody tests this
    match: {actions: [iam.role.grant]}
    effect: deny
    severity: low
"""

CASES = """\
cases:
  - name: passing exact rules and approval
    event:
      action: data.export
      resource: {sensitivity: restricted}
    expect:
      effect: escalate
      rules: [export.sensitive.approval]
      severity: high
      approval: {roles: [data-steward], quorum: 2}
  - name: wrong effect
    event: {action: data.read}
    expect: {effect: deny}
  - name: wrong rule list and approval
    event:
      action: data.export
      resource: {sensitivity: confidential}
    expect:
      effect: escalate
      rules: [read.allow]
      rules_include: [export.sensitive.approval]
      rules_exclude: [export.sensitive.approval]
      approval: {quorum: 1}
"""


def test_cases_pass_and_fail_with_reasons(write_pack) -> None:
    root = write_pack({"rules.yaml": PACK, "tests/export_test.yaml": CASES})
    report = run_policy_tests(root)
    assert [(r.name, r.passed) for r in report.results] == [
        ("passing exact rules and approval", True),
        ("wrong effect", False),
        ("wrong rule list and approval", False),
    ]
    assert (report.passed, report.failed, report.ok) == (1, 2, False)
    assert report.results[1].message.splitlines() == [
        "expected effect deny, got allow",
        "reason: reads pass",
    ]
    message = report.results[2].message
    assert "expected rules ['read.allow'], fired ['export.sensitive.approval']" in message
    assert "expected rules ['export.sensitive.approval'] not to fire" in message
    assert "expected approval.quorum 1, got 2" in message
    assert report.uncovered_rule_ids == ("never.tested",)
    assert report.results[2].line == 14
    assert report.results[2].file == "tests/export_test.yaml"


def test_render_looks_like_opa_test(write_pack) -> None:
    root = write_pack({"rules.yaml": PACK, "export_test.yaml": CASES})
    text = run_policy_tests(root).render()
    lines = text.splitlines()
    assert lines[0] == "export_test.yaml:"
    assert lines[1] == "FAIL: wrong effect (line 11)"
    assert "PASS:" not in text
    assert "rules no case fired: never.tested" in lines
    assert lines[-1] == "1 passed, 2 failed"
    assert "PASS: passing exact rules and approval (line 2)" in run_policy_tests(root).render(
        verbose=True
    )


def test_explicit_tests_path_and_single_file_pack(write_pack) -> None:
    root = write_pack({"policy.yaml": PACK, "policy_test.yaml": CASES})
    elsewhere = write_pack({"deep/x.yaml": CASES, "y.yml": CASES})
    assert len(run_policy_tests(root / "policy.yaml").results) == 3
    assert len(run_policy_tests(root, elsewhere).results) == 6
    assert len(run_policy_tests(root, elsewhere / "deep" / "x.yaml").results) == 3


def test_no_tests_is_an_error(write_pack) -> None:
    with pytest.raises(PolicyError, match="no policy tests found"):
        run_policy_tests(write_pack({"rules.yaml": PACK}))


@pytest.mark.parametrize(
    ("cases", "line", "fragment"),
    [
        ("cases:\n  - name: x\n    event: {action: a}\n", 2, "cases[0].expect is required"),
        (
            "cases:\n  - name: x\n    event: {resource: {}}\n    expect: {effect: allow}\n",
            3,
            "cases[0].event has no action",
        ),
        (
            "cases:\n  - name: x\n    event: {action: a}\n    expect: {effect: maybe}\n",
            4,
            "expect.effect must be one of",
        ),
        (
            "cases:\n  - name: x\n    event: {action: a}\n    expect: {effect: deny, rule: [a]}\n",
            4,
            "did you mean 'rules'",
        ),
        ("cases: {name: x}\n", 1, "cases must be a list"),
    ],
)
def test_malformed_test_files_raise_with_line(write_pack, cases, line, fragment) -> None:
    root = write_pack({"rules.yaml": PACK, "bad_test.yaml": cases})
    with pytest.raises(PolicyError) as raised:
        run_policy_tests(root)
    assert fragment in str(raised.value)
    assert (raised.value.file, raised.value.line) == ("bad_test.yaml", line)


def test_default_event_merges_nested_fields() -> None:
    event = default_event("action", {"action": "x", "principal": {"type": "agent"}})
    assert event["principal"] == {
        "id": "test-principal",
        "type": "agent",
        "roles": [],
        "on_behalf_of": None,
    }
    assert event["resource"]["environment"] == "dev"
    model = default_event("model", {"type": "deployment"})
    assert (model["type"], model["environment"], model["metrics"]) == ("deployment", "prod", {})
