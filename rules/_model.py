"""The parsed form of a policy pack: rules, their match, approval requirements, lists, macros.

Everything here is immutable: a loaded pack is a value, identified by its policy version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "EFFECTS",
    "EFFECT_PRECEDENCE",
    "GRANTS",
    "KINDS",
    "SEVERITIES",
    "ApprovalRequirement",
    "Effect",
    "GrantKind",
    "Kind",
    "Macro",
    "PolicyPack",
    "Rule",
    "RuleMatch",
    "Severity",
]

Effect = Literal["allow", "deny", "escalate", "revoke"]
Severity = Literal["info", "low", "medium", "high", "critical"]
Kind = Literal["action", "model"]
GrantKind = Literal["one_time", "window"]

EFFECTS: tuple[Effect, ...] = ("allow", "deny", "escalate", "revoke")
# Strongest first: when several rules fire, the first effect in this tuple that fired wins.
EFFECT_PRECEDENCE: tuple[Effect, ...] = ("deny", "revoke", "escalate", "allow")
# Weakest first, so a severity's index is its rank.
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
KINDS: tuple[Kind, ...] = ("action", "model")
GRANTS: tuple[GrantKind, ...] = ("one_time", "window")


@dataclass(frozen=True, slots=True)
class ApprovalRequirement:
    """Who must approve an escalated action, how many of them, and what the approval grants.

    Attributes
    ----------
    roles
        An approver must hold at least one of these roles.
    quorum
        Distinct approvals needed to grant.
    deny_quorum
        Distinct denials that close the escalation as denied.
    timeout_seconds
        Seconds the escalation stays open; unanswered, it is denied.
    grant
        ``one_time`` (the approved action only) or ``window`` (the same action and resource
        for up to ``max_duration_seconds``).
    max_duration_seconds
        Longest window an approver may grant (``window`` grants only).
    break_glass_roles
        Roles whose holders may approve alone in an emergency; empty when none may.
    """

    roles: tuple[str, ...]
    quorum: int = 1
    deny_quorum: int = 1
    timeout_seconds: int = 900
    grant: GrantKind = "one_time"
    max_duration_seconds: int = 3600
    break_glass_roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """Which events a rule looks at, before its condition runs.

    Attributes
    ----------
    kinds
        Event kinds (``action``, ``model``).
    actions
        fnmatch-style patterns over the action name (model events: ``model.<type>``).
    environments
        Environments the resource (or model) must be in; ``None`` for any.
    """

    kinds: tuple[Kind, ...] = ("action",)
    actions: tuple[str, ...] = ("*",)
    environments: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a pack, as written, with where it was written.

    Attributes
    ----------
    id
        Unique id across the pack, for example ``data.export.sensitive.approval``.
    description
        What the rule is for; the default reason.
    match
        The events the rule looks at.
    condition
        CEL source (before macro and list expansion); ``None`` means always.
    effect
        What the rule demands when it fires.
    severity
        How serious a firing is.
    reason
        Template of the human reason (``{principal.id}`` placeholders); ``None`` uses
        ``description``.
    tags
        Free labels.
    enabled
        Disabled rules are loaded and linted but never compiled into a policy.
    approval
        For ``escalate`` rules: who must approve.
    file
        Pack-relative file the rule is in.
    line
        1-based line of the rule's ``id``.
    condition_line
        1-based line of the condition, when there is one.
    """

    id: str
    description: str
    match: RuleMatch
    condition: str | None
    effect: Effect
    severity: Severity
    reason: str | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True
    approval: ApprovalRequirement | None = None
    file: str = ""
    line: int = 0
    condition_line: int | None = None

    @property
    def reason_template(self) -> str:
        """The reason template in force: ``reason`` or else ``description``."""
        return self.reason if self.reason is not None else self.description


@dataclass(frozen=True, slots=True)
class Macro:
    """A named CEL snippet, expanded (parenthesised) wherever its name is used."""

    name: str
    source: str
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class PolicyPack:
    """A loaded, validated policy pack; compile it with :func:`compile_pack`.

    Attributes
    ----------
    name
        Pack name (``pack.name``, else the directory or file name).
    path
        Where the pack was loaded from.
    version
        ``sha256:`` plus 16 hex digits over the pack's files; the policy version.
    default_effect
        Effect when no rule fires.
    default_reason
        Reason when no rule fires; ``None`` for the standard one.
    default_severity
        Severity when no rule fires.
    default_approval
        Approval requirement when the default effect is ``escalate``.
    environments
        Environments the pack declares as known (for lint); ``None`` when not declared.
    lists
        Named string lists, usable as ``lists.<name>`` in conditions.
    macros
        Named CEL snippets.
    rules
        All rules in pack order (files sorted by relative path, rules in file order).
    files
        Pack-relative paths of the files that make up the pack.
    list_locations
        List name to the (file, line) that defines it.
    """

    name: str
    path: Path
    version: str
    default_effect: Effect
    default_reason: str | None
    default_severity: Severity
    default_approval: ApprovalRequirement | None
    environments: frozenset[str] | None
    lists: Mapping[str, tuple[str, ...]]
    macros: Mapping[str, Macro]
    rules: tuple[Rule, ...]
    files: tuple[str, ...]
    list_locations: Mapping[str, tuple[str, int]] = field(default_factory=dict)

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with id ``rule_id``; ``KeyError`` when there is none."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)
