"""Loading packs: discovery, the policy version, settings and validation errors with file:line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from clearance.errors import ClearanceError
from clearance.rules import DEFAULT_PACK_PATH, ApprovalRequirement, PolicyError, load_pack
from clearance.rules._loader import read_pack
from clearance.rules._yaml import parse_duration

MINIMAL = """\
rules:
  - id: data.read.allow
    description: Reads pass.
    match: {actions: [data.read]}
    effect: allow
    severity: info
"""


def test_default_pack_loads_with_its_settings() -> None:
    pack = load_pack(DEFAULT_PACK_PATH)
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", pack.version)
    assert pack.name == "default"
    assert pack.default_effect == "deny"
    assert pack.environments == frozenset({"dev", "test", "staging", "prod"})
    assert "stable/data.yaml" in pack.files
    assert not any("test" in name for name in pack.files)
    assert pack.rule("data.export.sensitive.approval").approval == ApprovalRequirement(
        roles=("data-steward",), timeout_seconds=1800, grant="one_time"
    )


def test_version_depends_only_on_names_and_contents(tmp_path: Path, write_pack) -> None:
    first = write_pack({"a.yaml": MINIMAL, "sub/b.yaml": "lists: {x: [a]}\n"})
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(first, copy)
    assert load_pack(copy).version == load_pack(first).version

    (copy / "sub" / "b.yaml").write_text("lists: {x: [b]}\n", encoding="utf-8")
    changed = load_pack(copy).version
    assert changed != load_pack(first).version

    (copy / "sub" / "b.yaml").rename(copy / "sub" / "c.yaml")
    assert load_pack(copy).version != changed


def test_tests_and_hidden_files_are_not_part_of_the_pack(write_pack) -> None:
    plain = write_pack({"rules.yaml": MINIMAL})
    with_tests = write_pack(
        {
            "rules.yaml": MINIMAL,
            "rules_test.yaml": "cases: []\n",
            "tests/more.yaml": "cases: []\n",
            ".hidden/x.yaml": "not: [valid",
        }
    )
    assert load_pack(with_tests).version == load_pack(plain).version
    assert load_pack(with_tests).files == ("rules.yaml",)


def test_single_file_pack_and_defaults(write_pack) -> None:
    root = write_pack({"only.yaml": MINIMAL})
    pack = load_pack(root / "only.yaml")
    assert pack.name == "only"
    assert pack.default_effect == "deny"
    assert pack.default_severity == "info"
    rule = pack.rules[0]
    assert rule.match.kinds == ("action",)
    assert rule.match.environments is None
    assert rule.condition is None
    assert rule.enabled
    assert rule.reason_template == "Reads pass."
    assert (rule.file, rule.line) == (str(root / "only.yaml"), 2)


def test_rules_keep_pack_order_across_files(write_pack) -> None:
    second = MINIMAL.replace("data.read.allow", "b.rule")
    root = write_pack({"b.yaml": second, "a.yaml": MINIMAL, "a/z.yaml": second.replace("b.", "c.")})
    assert [rule.id for rule in load_pack(root).rules] == ["data.read.allow", "c.rule", "b.rule"]


def test_pack_settings_are_read(write_pack) -> None:
    root = write_pack(
        """\
        pack:
          name: custom
          default_effect: escalate
          default_reason: ask someone
          default_severity: medium
          default_approval: {roles: [sre], quorum: 2, timeout: 1h30m}
          environments: [dev, prod]
        """
    )
    pack = load_pack(root)
    assert (pack.name, pack.default_effect, pack.default_reason) == (
        "custom",
        "escalate",
        "ask someone",
    )
    assert pack.default_severity == "medium"
    assert pack.default_approval == ApprovalRequirement(
        roles=("sre",), quorum=2, timeout_seconds=5400
    )
    assert pack.environments == frozenset({"dev", "prod"})


BAD_PACKS = [
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    conditon: 'true'\n"
        "    effect: deny\n    severity: low\n",
        4,
        "r1",
        "did you mean 'condition'",
        id="misspelt-key",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: block\n    severity: low\n",
        4,
        "r1",
        "effect must be one of allow, deny, escalate, revoke, got 'block'",
        id="unknown-effect",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: deny\n    severity: urgent\n",
        5,
        "r1",
        "severity must be one of info, low, medium, high, critical",
        id="unknown-severity",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: escalate\n    severity: low\n",
        2,
        "r1",
        "escalate rule has no approval",
        id="escalate-without-approval",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: escalate\n    severity: low\n"
        "    approval:\n      roles: []\n",
        7,
        "r1",
        "approval.roles must not be empty",
        id="empty-approval-roles",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: escalate\n    severity: low\n"
        "    approval: {roles: [sre], quorum: 0}\n",
        6,
        "r1",
        "quorum must be an integer >= 1, got 0",
        id="zero-quorum",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: escalate\n    severity: low\n"
        "    approval:\n      roles: [sre]\n      timeout: 15 minutes\n",
        8,
        "r1",
        "timeout must be a positive duration, got '15 minutes'",
        id="bad-duration",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: escalate\n    severity: low\n"
        "    approval:\n      roles: [sre]\n      max_duration: 2h\n",
        8,
        "r1",
        "max_duration applies only to grant: window",
        id="max-duration-one-time",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: deny\n    severity: low\n"
        "    approval: {roles: [sre]}\n",
        6,
        "r1",
        "approval is only for escalate rules",
        id="approval-on-deny",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: deny\n    severity: low\n"
        "    match: {kinds: [request]}\n",
        6,
        "r1",
        "unknown kind 'request'",
        id="unknown-kind",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: d\n    effect: deny\n    effect: allow\n"
        "    severity: low\n",
        5,
        "r1",
        "effect is given twice (first at line 4)",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    description: [unclosed\n    effect: deny\n",
        4,
        None,
        "invalid YAML",
        id="yaml-syntax",
    ),
    pytest.param(
        "rules:\n  - id: r1\n    effect: deny\n    severity: low\n",
        2,
        "r1",
        "description is required",
        id="missing-description",
    ),
    pytest.param(
        "rules:\n  - id: has space\n    description: d\n    effect: deny\n    severity: low\n",
        2,
        "has space",
        "rule id 'has space' has characters",
        id="bad-rule-id",
    ),
    pytest.param(
        "macros:\n  principal: 'true'\n", 2, None, "macro name 'principal'", id="macro-shadows"
    ),
    pytest.param(
        "pack:\n  default_effect: escalate\n",
        1,
        None,
        "default_approval is missing",
        id="default-escalate-without-approval",
    ),
    pytest.param("rules: {id: r1}\n", 1, None, "rules must be a list", id="rules-not-list"),
    pytest.param("lists:\n  roles: admin\n", 2, None, "lists.roles must be a list", id="list"),
]


@pytest.mark.parametrize(("text", "line", "rule_id", "fragment"), BAD_PACKS)
def test_invalid_packs_name_file_line_and_rule(
    write_pack, text: str, line: int, rule_id: str | None, fragment: str
) -> None:
    root = write_pack({"bad.yaml": text})
    with pytest.raises(PolicyError) as raised:
        load_pack(root)
    error = raised.value
    assert issubclass(PolicyError, ClearanceError)
    assert fragment in str(error)
    assert (error.file, error.line, error.rule_id) == ("bad.yaml", line, rule_id)
    assert str(error).startswith(f"bad.yaml:{line}: ")
    assert "Fix: " in str(error)


def test_duplicate_rule_id_across_files_names_the_first(write_pack) -> None:
    root = write_pack({"a.yaml": MINIMAL, "b.yaml": "\n\n" + MINIMAL})
    with pytest.raises(PolicyError, match=r"already used at a\.yaml:2") as raised:
        load_pack(root)
    assert (raised.value.file, raised.value.line, raised.value.rule_id) == (
        "b.yaml",
        4,
        "data.read.allow",
    )


def test_first_error_counts_the_others_and_read_pack_keeps_all(write_pack) -> None:
    text = MINIMAL.replace("effect: allow", "effect: nope") + MINIMAL.replace(
        "data.read.allow", "second"
    ).replace("rules:\n", "").replace("severity: info", "severity: loud")
    root = write_pack(text)
    with pytest.raises(PolicyError, match=r"and 1 more problem;"):
        load_pack(root)
    result = read_pack(root)
    assert [problem.rule_id for problem in result.problems] == ["data.read.allow", "second"]
    assert result.pack is not None and result.pack.rules == ()


@pytest.mark.parametrize(
    ("files", "fragment"),
    [({}, "does not exist"), ({"notes.txt": "x"}, "holds no .yaml file")],
)
def test_missing_or_empty_pack(tmp_path: Path, write_pack, files, fragment) -> None:
    root = write_pack(files) if files else tmp_path / "absent"
    with pytest.raises(PolicyError, match=fragment):
        load_pack(root)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("15", None), ("m", None)],
)
def test_parse_duration(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds
