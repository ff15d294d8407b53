"""The CLI as a user meets it: exit codes, one-line errors naming the fix, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def clearance(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    return subprocess.run(
        [sys.executable, "-m", "clearance.cli", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_policy_test_passes_on_the_default_pack() -> None:
    result = clearance("policy", "test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout


def test_policy_test_fails_when_a_case_expects_the_wrong_effect(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "rules:\n"
        "  - id: exports.deny\n"
        "    description: no exports\n"
        "    match: {actions: ['data.export']}\n"
        "    effect: deny\n"
        "    severity: high\n"
    )
    cases = tmp_path / "cases_test.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: export is allowed (wrong on purpose)\n"
        "    event: {action: data.export}\n"
        "    expect: {effect: allow}\n"
    )
    result = clearance("policy", "test", str(pack), "--tests", str(cases))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "1 failed" in result.stdout


def test_policy_lint_reports_bad_cel_with_file_and_line(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "rules:\n"
        "  - id: broken\n"
        "    description: bad condition\n"
        "    match: {actions: ['data.read']}\n"
        "    condition: 'resource.sensitivity == '\n"
        "    effect: deny\n"
        "    severity: low\n"
    )
    result = clearance("policy", "lint", str(pack))
    assert result.returncode in (1, 2), result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "pack.yaml:" in output and "broken" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLEARANCE_KAFKA_BOOTSTRAP", "no-port"),
        ("CLEARANCE_CLICKHOUSE_DSN", "mysql://db"),
        ("CLEARANCE_PROCESSING_GUARANTEE", "maybe"),
        ("CLEARANCE_POLICY_PATH", "/nonexistent/pack"),
        ("CLEARANCE_KAFKA_BOOTSRAP", "127.0.0.1:9092"),
    ],
)
def test_a_bad_setting_stops_with_the_variable_and_a_fix(variable: str, value: str) -> None:
    result = clearance("config", env={variable: value})
    assert result.returncode == 2
    assert variable in result.stderr and "Fix:" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_lists_every_setting_with_its_meaning() -> None:
    result = clearance("config")
    assert result.returncode == 0, result.stderr
    assert "CLEARANCE_KAFKA_BOOTSTRAP" in result.stdout
    assert "CLEARANCE_CLICKHOUSE_DSN" in result.stdout


PACKS = Path(__file__).parent.parent / "streams" / "policy_packs"


def test_policy_push_refuses_a_pack_with_lint_errors_before_reaching_kafka() -> None:
    # No broker at this address: the refusal must come first, from the pack alone.
    result = clearance(
        "policy", "push", str(PACKS / "bad"), env={"CLEARANCE_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    )
    assert result.returncode == 1
    assert "refused: 1 lint errors" in result.stderr and "pack.yaml:11" in result.stderr
    assert "Traceback" not in result.stderr


def test_policy_diff_without_shadow_decisions_says_how_to_get_some(tmp_path: Path) -> None:
    from clearance.audit import migrate, open_audit_store

    with open_audit_store(f"chdb://{tmp_path / 'audit'}", command="test") as store:
        migrate(store.client)
    result = clearance(
        "policy", "diff", env={"CLEARANCE_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'audit'}"}
    )
    assert result.returncode != 0
    assert "no shadow decisions recorded" in result.stderr
    assert "clearance policy push --shadow" in result.stderr
    assert "Traceback" not in result.stderr
