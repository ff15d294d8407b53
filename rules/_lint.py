"""``clearance policy lint``: every problem of a pack, located, without deciding any event.

Errors make a pack unusable or wrong (it would not load or compile, or a condition reads a
field events never have, so it errors on every event and fails closed). Warnings flag rules
that can never fire or are probably not what the author meant.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ._cel_source import attribute_paths, tokenize
from ._compile import cel_environment, compile_condition
from ._errors import PolicyError
from ._fields import unknown_field
from ._loader import read_pack
from ._model import Kind, PolicyPack, Rule
from ._reason import ReasonTemplate
from ._variables import VARIABLES

__all__ = ["DEFAULT_ENVIRONMENTS", "MODEL_ACTIONS", "LintFinding", "lint_pack"]

#: Environments lint knows when neither the caller nor ``pack.environments`` names any.
DEFAULT_ENVIRONMENTS = frozenset({"dev", "test", "staging", "prod"})
#: The actions model events match on: ``model.<ModelEvent.type>``.
MODEL_ACTIONS = (
    "model.registered",
    "model.production_window",
    "model.evaluation",
    "model.deployment",
)
# Characters an action name may contain (dotted lowercase), plus fnmatch's own.
_PATTERN_CHARS = re.compile(r"[a-z0-9_.*?\[\]!-]+")


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One lint finding.

    Attributes
    ----------
    file
        Pack-relative file (or the pack path when the problem is the pack itself).
    line
        1-based line, when known.
    rule_id
        The rule concerned, when one is.
    severity
        ``error`` (the pack does not load, compile or work as written) or ``warning``.
    message
        What is wrong and how to fix it.
    """

    file: str | None
    line: int | None
    rule_id: str | None
    severity: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        where = self.file or "<pack>"
        if self.line is not None:
            where += f":{self.line}"
        rule = f" rule {self.rule_id!r}:" if self.rule_id else ""
        return f"{where}: {self.severity}:{rule} {self.message}"


def lint_pack(
    path: str | Path,
    known_environments: Iterable[str] | None = None,
    known_actions: Iterable[str] | None = None,
) -> list[LintFinding]:
    """Check a pack and return every finding, errors first, then by file and line.

    Parameters
    ----------
    path
        Pack directory or file.
    known_environments
        Environments that exist; defaults to ``pack.environments``, else dev, test,
        staging, prod. A rule naming another environment gets a warning.
    known_actions
        Action names that exist, when the deployment knows them; an action pattern of an
        action-kind rule matching none of them gets a warning.

    Returns
    -------
    list of LintFinding
        Empty when the pack is clean.
    """
    result = read_pack(path)
    findings = [_from_error(problem, "error") for problem in result.problems]
    pack = result.pack
    if pack is not None:
        environments = frozenset(
            known_environments
            if known_environments is not None
            else pack.environments or DEFAULT_ENVIRONMENTS
        )
        actions = tuple(known_actions) if known_actions is not None else None
        used_macros: set[str] = set()
        used_lists: set[str] = set()
        for rule in pack.rules:
            findings.extend(_lint_match(rule, environments, actions))
            findings.extend(_lint_condition(rule, pack))
            findings.extend(_lint_reason(rule))
            _collect_uses(rule.condition, pack, used_macros, used_lists)
        findings.extend(_lint_unused(pack, used_macros, used_lists))
    order = {"error": 0, "warning": 1}
    return sorted(findings, key=lambda f: (order[f.severity], f.file or "", f.line or 0, f.message))


def _from_error(error: PolicyError, severity: Literal["error", "warning"]) -> LintFinding:
    return LintFinding(
        error.file, error.line, error.rule_id, severity, f"{error.problem}. Fix: {error.fix}"
    )


def _finding(
    rule: Rule,
    message: str,
    severity: Literal["error", "warning"] = "warning",
    line: int | None = None,
) -> LintFinding:
    return LintFinding(rule.file, line or rule.line, rule.id, severity, message)


def _lint_match(
    rule: Rule, environments: frozenset[str], actions: tuple[str, ...] | None
) -> list[LintFinding]:
    match = rule.match
    findings = []
    for name, values in (
        ("kinds", match.kinds),
        ("actions", match.actions),
        ("environments", match.environments),
    ):
        if values is not None and not values:
            findings.append(_finding(rule, f"match.{name} is empty, so the rule never matches"))
    if match.environments:
        unknown = sorted(match.environments - environments)
        if unknown:
            findings.append(
                _finding(
                    rule,
                    f"match.environments names unknown environment(s) {', '.join(unknown)}"
                    f" (known: {', '.join(sorted(environments))}); declare them in"
                    " pack.environments or fix the spelling",
                )
            )
    for pattern in match.actions:
        for kind in match.kinds:
            reason = _pattern_problem(pattern, kind, actions)
            if reason:
                findings.append(
                    _finding(
                        rule, f"action pattern {pattern!r} can never match {kind} events: {reason}"
                    )
                )
    return findings


def _pattern_problem(pattern: str, kind: Kind, actions: tuple[str, ...] | None) -> str | None:
    if kind == "model":
        if not any(fnmatch.fnmatchcase(action, pattern) for action in MODEL_ACTIONS):
            return f"model events have actions {', '.join(MODEL_ACTIONS)}"
        return None
    if not _PATTERN_CHARS.fullmatch(pattern):
        return "action names are dotted lowercase (letters, digits, _ and -)"
    if actions is not None and not any(fnmatch.fnmatchcase(a, pattern) for a in actions):
        return "it matches none of the known actions"
    return None


def _lint_condition(rule: Rule, pack: PolicyPack) -> list[LintFinding]:
    if rule.condition is None:
        return []
    line = rule.condition_line or rule.line
    findings = []
    for kind in rule.match.kinds:
        try:
            compiled = compile_condition(rule, kind, pack)
        except PolicyError as exc:
            findings.append(_from_error(exc, "error"))
            continue
        assert compiled.source is not None
        for path, _ in attribute_paths(compiled.source):
            unknown = unknown_field(kind, path)
            if unknown is not None:
                findings.append(
                    _finding(
                        rule,
                        f"condition reads {unknown}, which {kind} events do not have (a typo?"
                        " it would error on every event and fail closed); context.* and"
                        " detectors.* are free-form",
                        "error",
                        line,
                    )
                )
        # A condition reading no variable gives the same value on every event.
        constant = not compiled.roots and compiled.program is not None
        if constant and compiled.outcome(cel_environment(kind).Activation({})) is False:
            findings.append(
                _finding(rule, "condition is always false, so the rule never fires", line=line)
            )
    return _unique(findings)


def _lint_reason(rule: Rule) -> list[LintFinding]:
    findings = []
    template = ReasonTemplate.parse(rule.reason_template)
    for path in template.paths():
        for kind in rule.match.kinds:
            if path[0] not in VARIABLES[kind]:
                message = (
                    f"reason placeholder {{{'.'.join(path)}}} is not a variable of {kind} events"
                )
            else:
                unknown = unknown_field(kind, path)
                if unknown is None:
                    continue
                message = (
                    f"reason placeholder {{{'.'.join(path)}}} reads {unknown},"
                    f" which {kind} events do not have"
                )
            findings.append(_finding(rule, message + "; it renders as <none>"))
    return _unique(findings)


def _collect_uses(
    condition: str | None, pack: PolicyPack, macros: set[str], lists: set[str]
) -> None:
    if condition is None:
        return
    pending = [condition]
    while pending:
        source = pending.pop()
        tokens = tokenize(source)
        for index, token in enumerate(tokens):
            if token.kind != "ident" or (index and tokens[index - 1].text == "."):
                continue
            if token.text == "lists" and index + 2 < len(tokens):
                lists.add(tokens[index + 2].text)
            elif token.text in pack.macros and token.text not in macros:
                macros.add(token.text)
                pending.append(pack.macros[token.text].source)


def _lint_unused(pack: PolicyPack, macros: set[str], lists: set[str]) -> list[LintFinding]:
    findings = []
    for name, macro in pack.macros.items():
        if name not in macros:
            findings.append(
                LintFinding(
                    macro.file, macro.line, None, "warning", f"macro {name!r} is never used"
                )
            )
    for name in pack.lists:
        if name not in lists:
            file, line = pack.list_locations.get(name, (None, None))
            findings.append(
                LintFinding(file, line, None, "warning", f"list {name!r} is never used")
            )
    return findings


def _unique(findings: list[LintFinding]) -> list[LintFinding]:
    return list(dict.fromkeys(findings))
