"""The shipped default pack: its policy tests pass and fire every rule, with all four effects."""

from __future__ import annotations

from clearance.rules import DEFAULT_PACK_PATH, load_pack, run_policy_tests


def test_default_pack_policy_tests_pass_and_cover_every_rule() -> None:
    report = run_policy_tests(DEFAULT_PACK_PATH)
    failures = [f"{r.file}:{r.line} {r.name}\n{r.message}" for r in report.results if not r.passed]
    assert failures == []
    assert report.ok
    assert report.uncovered_rule_ids == ()
    fired = {rule_id for result in report.results for rule_id in result.verdict.rule_ids}
    assert fired == {rule.id for rule in load_pack(DEFAULT_PACK_PATH).rules}


def test_default_pack_tests_see_all_four_effects() -> None:
    report = run_policy_tests(DEFAULT_PACK_PATH)
    assert {result.verdict.effect for result in report.results} == {
        "allow",
        "deny",
        "escalate",
        "revoke",
    }


def test_two_person_rule_for_critical_privilege_escalation() -> None:
    rule = load_pack(DEFAULT_PACK_PATH).rule("iam.privileged_role.two_person")
    assert rule.severity == "critical"
    assert rule.approval is not None and rule.approval.quorum == 2
    assert rule.approval.roles == ("security-admin",)
