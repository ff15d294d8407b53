"""``clearance policy test``: run a pack's test cases and report PASS/FAIL like ``opa test``.

A test file (``*_test.yaml``, or any YAML under a ``tests/`` folder of the pack) holds::

    cases:
      - name: confidential export needs a data steward
        kind: action                # default action; or model
        event:                      # partial: missing fields get the defaults below
          action: data.export
          resource: {environment: prod, sensitivity: confidential}
        detectors: {access: {score: 0.2, label: normal}}   # optional
        expect:
          effect: escalate          # required
          rules: [data.export.sensitive.approval]   # optional: exactly these fired
          rules_include: [...]      # optional: at least these fired
          rules_exclude: [...]      # optional: none of these fired
          severity: high            # optional
          approval: {roles: [data-steward], quorum: 1}   # optional: these fields match

Nested mappings of ``event`` are merged into the defaults, so ``principal: {type: agent}``
keeps the default id and roles.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._errors import PolicyError
from ._loader import is_test_file, load_pack
from ._model import EFFECTS, KINDS, SEVERITIES, Kind
from ._yaml import NodeReader, read_yaml
from .engine import CompiledPolicy, Verdict, compile_pack

__all__ = ["CaseResult", "TestReport", "default_event", "run_policy_tests"]

_CASE_KEYS = ("name", "kind", "event", "detectors", "expect")
_EXPECT_KEYS = ("effect", "rules", "rules_include", "rules_exclude", "severity", "approval")
_APPROVAL_FIELDS = (
    "roles",
    "quorum",
    "deny_quorum",
    "timeout_seconds",
    "grant",
    "max_duration_seconds",
    "break_glass_roles",
)

_ACTION_DEFAULTS: dict[str, Any] = {
    "event_id": "test-event",
    "occurred_at": 1_700_000_000_000,
    "principal": {"id": "test-principal", "type": "human", "roles": [], "on_behalf_of": None},
    "resource": {
        "type": "dataset",
        "id": "test-resource",
        "environment": "dev",
        "sensitivity": "internal",
    },
    "session_id": "test-session",
    "source": None,
    "data_bytes": None,
    "context": {},
}
_MODEL_DEFAULTS: dict[str, Any] = {
    "event_id": "test-event",
    "occurred_at": 1_700_000_000_000,
    "model_id": "test-model",
    "model_version": "1",
    "environment": "prod",
    "actor": None,
    "features": [],
    "metrics": {},
    "passed": None,
    "from_environment": None,
    "context": {},
}


def default_event(kind: Kind, partial: Mapping[str, Any]) -> dict[str, Any]:
    """A full event of ``kind``: ``partial`` merged over test defaults (nested dicts merge)."""
    event = copy.deepcopy(_MODEL_DEFAULTS if kind == "model" else _ACTION_DEFAULTS)
    for key, value in partial.items():
        if isinstance(value, Mapping) and isinstance(event.get(key), dict):
            event[key] = {**event[key], **value}
        else:
            event[key] = copy.deepcopy(value)
    return event


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one test case."""

    name: str
    file: str
    line: int
    passed: bool
    message: str
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class TestReport:
    """All cases of a policy test run.

    Attributes
    ----------
    policy_version
        Version of the pack under test.
    results
        One result per case, in file and case order.
    uncovered_rule_ids
        Enabled rules that no case fired: untested policy.
    """

    __test__ = False  # a library class, not a pytest test class

    policy_version: str
    results: tuple[CaseResult, ...]
    uncovered_rule_ids: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> int:
        """Number of passing cases."""
        return sum(result.passed for result in self.results)

    @property
    def failed(self) -> int:
        """Number of failing cases."""
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        """Whether every case passed (and there was at least one)."""
        return bool(self.results) and self.failed == 0

    def render(self, verbose: bool = False) -> str:
        """``opa test``-style text: FAIL lines (PASS too when verbose) and a summary line."""
        lines: list[str] = []
        current_file = None
        for result in self.results:
            if not verbose and result.passed:
                continue
            if result.file != current_file:
                current_file = result.file
                lines.append(f"{result.file}:")
            status = "PASS" if result.passed else "FAIL"
            lines.append(f"{status}: {result.name} (line {result.line})")
            if not result.passed:
                lines.extend(f"  {part}" for part in result.message.splitlines())
        if self.uncovered_rule_ids:
            lines.append("rules no case fired: " + ", ".join(self.uncovered_rule_ids))
        lines.append("-" * 80)
        lines.append(f"policy {self.policy_version}")
        lines.append(f"{self.passed} passed, {self.failed} failed")
        return "\n".join(lines)


def run_policy_tests(pack_path: str | Path, tests_path: str | Path | None = None) -> TestReport:
    """Run policy test cases against a pack.

    Parameters
    ----------
    pack_path
        Pack directory or file.
    tests_path
        A test file or a directory of them (``*_test.yaml`` and YAML under ``tests/``);
        by default the tests inside the pack directory, or ``<name>_test.yaml`` beside a
        single-file pack.

    Returns
    -------
    TestReport
        Per-case PASS/FAIL with messages, and the rules no case fired.

    Raises
    ------
    PolicyError
        When the pack does not load or compile, no test file is found, or a test file is
        malformed (with file:line).
    """
    pack_root = Path(pack_path)
    policy = compile_pack(load_pack(pack_root))
    files = _test_files(pack_root, None if tests_path is None else Path(tests_path))
    results: list[CaseResult] = []
    fired: set[str] = set()
    for label, path in files:
        for result in _run_file(policy, label, path):
            results.append(result)
            fired.update(result.verdict.rule_ids)
    enabled = [rule.id for rule in policy.pack.rules if rule.enabled]
    return TestReport(
        policy_version=policy.version,
        results=tuple(results),
        uncovered_rule_ids=tuple(rule_id for rule_id in enabled if rule_id not in fired),
    )


def _test_files(pack_root: Path, tests_path: Path | None) -> list[tuple[str, Path]]:
    if tests_path is not None and tests_path.is_file():
        return [(str(tests_path), tests_path)]
    if tests_path is None and pack_root.is_file():
        candidates = [pack_root.with_name(f"{pack_root.stem}_test{pack_root.suffix}")]
        found = [(str(path), path) for path in candidates if path.is_file()]
    else:
        root = tests_path if tests_path is not None else pack_root
        found = [
            (path.relative_to(root).as_posix(), path)
            for path in sorted(root.rglob("*"))
            if path.suffix in (".yaml", ".yml")
            and path.is_file()
            and (tests_path is not None or is_test_file(path.relative_to(root)))
        ]
    if not found:
        raise PolicyError(
            f"no policy tests found for {str(tests_path or pack_root)!r}",
            "add *_test.yaml files (or a tests/ folder) with cases: [...]",
            file=str(tests_path or pack_root),
        )
    return found


def _run_file(policy: CompiledPolicy, label: str, path: Path) -> list[CaseResult]:
    node, loader = read_yaml(path.read_text(encoding="utf-8"), label)
    if node is None or loader is None:
        return []
    reader = NodeReader(label, loader)
    top = reader.mapping(node, "file", ("cases",), ("cases",))
    cases_node = top["cases"][1] if top and "cases" in top else None
    if cases_node is not None and not isinstance(cases_node, yaml.SequenceNode):
        reader.problem(cases_node, "cases must be a list", "write one '- name: ...' per case")
    results = []
    if isinstance(cases_node, yaml.SequenceNode):
        for index, case_node in enumerate(cases_node.value):
            result = _run_case(policy, reader, case_node, f"cases[{index}]")
            if result is not None:
                results.append(result)
    if reader.problems:
        raise reader.problems[0]
    return results


def _run_case(
    policy: CompiledPolicy, reader: NodeReader, node: yaml.Node, where: str
) -> CaseResult | None:
    entries = reader.mapping(node, where, _CASE_KEYS, ("name", "event", "expect"))
    if entries is None or not {"name", "event", "expect"} <= entries.keys():
        return None
    name = reader.string(entries["name"][1], f"{where}.name")
    kind = (
        reader.choice(entries["kind"][1], f"{where}.kind", KINDS) if "kind" in entries else "action"
    )
    event = reader.value(entries["event"][1])
    detectors = reader.value(entries["detectors"][1]) if "detectors" in entries else None
    expect = _read_expect(reader, entries["expect"][1], f"{where}.expect")
    if not isinstance(event, dict):
        reader.problem(
            entries["event"][1], f"{where}.event must be a mapping", "write the event's fields"
        )
        return None
    required = "type" if kind == "model" else "action"
    if required not in event:
        reader.problem(
            entries["event"][1], f"{where}.event has no {required}", f"add {required}: ..."
        )
        return None
    if detectors is not None and not isinstance(detectors, dict):
        reader.problem(
            entries["detectors"][1],
            f"{where}.detectors must be a mapping",
            "write name: {score: ..., label: ...}",
        )
        return None
    if name is None or kind is None or expect is None:
        return None
    event_kind: Kind = "model" if kind == "model" else "action"
    verdict = policy.decide(default_event(event_kind, event), event_kind, detectors)
    failures = _compare(expect, verdict)
    return CaseResult(
        name=name,
        file=reader.file,
        line=reader.line(node),
        passed=not failures,
        message="\n".join(failures),
        verdict=verdict,
    )


def _read_expect(reader: NodeReader, node: yaml.Node, where: str) -> dict[str, Any] | None:
    entries = reader.mapping(node, where, _EXPECT_KEYS, ("effect",))
    if entries is None or "effect" not in entries:
        return None
    expect: dict[str, Any] = {
        "effect": reader.choice(entries["effect"][1], f"{where}.effect", EFFECTS)
    }
    for key in ("rules", "rules_include", "rules_exclude"):
        if key in entries:
            expect[key] = reader.string_list(entries[key][1], f"{where}.{key}")
    if "severity" in entries:
        expect["severity"] = reader.choice(entries["severity"][1], f"{where}.severity", SEVERITIES)
    if "approval" in entries:
        approval = reader.value(entries["approval"][1])
        unknown = set(approval) - set(_APPROVAL_FIELDS) if isinstance(approval, dict) else None
        if unknown is None or unknown:
            reader.problem(
                entries["approval"][1],
                f"{where}.approval must map approval fields ({', '.join(_APPROVAL_FIELDS)})",
                "write e.g. {roles: [sre], quorum: 2}",
            )
            return None
        expect["approval"] = approval
    if any(value is None for value in expect.values()):
        return None
    return expect


def _compare(expect: Mapping[str, Any], verdict: Verdict) -> list[str]:
    failures = []
    fired = list(verdict.rule_ids)
    if verdict.effect != expect["effect"]:
        failures.append(f"expected effect {expect['effect']}, got {verdict.effect}")
    if "rules" in expect and fired != list(expect["rules"]):
        failures.append(f"expected rules {list(expect['rules'])}, fired {fired}")
    missing = [rule for rule in expect.get("rules_include", ()) if rule not in fired]
    if missing:
        failures.append(f"expected rules {missing} to fire; fired {fired}")
    unwanted = [rule for rule in expect.get("rules_exclude", ()) if rule in fired]
    if unwanted:
        failures.append(f"expected rules {unwanted} not to fire")
    if "severity" in expect and verdict.severity != expect["severity"]:
        failures.append(f"expected severity {expect['severity']}, got {verdict.severity}")
    if "approval" in expect:
        failures.extend(_compare_approval(expect["approval"], verdict))
    if failures:
        failures.extend(f"reason: {reason}" for reason in verdict.reasons)
        failures.extend(f"condition error: {error}" for error in verdict.condition_errors)
    return failures


def _compare_approval(expected: Mapping[str, Any], verdict: Verdict) -> list[str]:
    if verdict.approval is None:
        return ["expected an approval requirement, got none"]
    failures = []
    for key, want in expected.items():
        got = getattr(verdict.approval, key)
        if isinstance(got, tuple):
            got = list(got)
        if got != want:
            failures.append(f"expected approval.{key} {want!r}, got {got!r}")
    return failures
