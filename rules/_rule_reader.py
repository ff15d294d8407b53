"""Validating one rule of a pack: its keys, match, condition text and approval requirement.

Every problem is recorded on the :class:`NodeReader` with the rule's id and line; a rule
with problems is dropped, so the rest of the pack can still be checked.
"""

from __future__ import annotations

import re

import yaml

from ._model import (
    EFFECTS,
    GRANTS,
    KINDS,
    SEVERITIES,
    ApprovalRequirement,
    GrantKind,
    Rule,
    RuleMatch,
)
from ._yaml import NodeReader

__all__ = ["read_approval", "read_match", "read_rule"]

_RULE_KEYS = (
    "id",
    "description",
    "match",
    "condition",
    "effect",
    "severity",
    "reason",
    "tags",
    "enabled",
    "approval",
)
_MATCH_KEYS = ("kinds", "actions", "environments")
_APPROVAL_KEYS = (
    "roles",
    "quorum",
    "deny_quorum",
    "timeout",
    "grant",
    "max_duration",
    "break_glass_roles",
)
_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]*")


def read_rule(reader: NodeReader, node: yaml.Node, where: str) -> Rule | None:
    before = len(reader.problems)
    rule_id: str | None = None
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == "id":
                value = (
                    reader.value(value_node) if isinstance(value_node, yaml.ScalarNode) else None
                )
                rule_id = value if isinstance(value, str) else None
    entries = reader.mapping(
        node, where, _RULE_KEYS, ("id", "description", "effect", "severity"), rule_id
    )
    if entries is None:
        return None
    if rule_id is not None and not _RULE_ID.fullmatch(rule_id):
        reader.problem(
            entries["id"][1],
            f"rule id {rule_id!r} has characters other than letters, digits and _ . : / -",
            "use a dotted id such as data.export.sensitive.approval",
            rule_id,
        )
    elif "id" in entries and rule_id is None:
        reader.problem(entries["id"][1], f"{where}.id must be a string", "write a dotted id", None)
    description = (
        reader.string(entries["description"][1], f"{where}.description", rule_id)
        if "description" in entries
        else None
    )
    effect = (
        reader.choice(entries["effect"][1], f"{where}.effect", EFFECTS, rule_id)
        if "effect" in entries
        else None
    )
    severity = (
        reader.choice(entries["severity"][1], f"{where}.severity", SEVERITIES, rule_id)
        if "severity" in entries
        else None
    )
    match = (
        read_match(reader, entries["match"][1], f"{where}.match", rule_id)
        if "match" in entries
        else RuleMatch()
    )
    condition, condition_line = None, None
    if "condition" in entries:
        condition_node = entries["condition"][1]
        condition_line = reader.line(condition_node)
        raw = reader.value(condition_node) if isinstance(condition_node, yaml.ScalarNode) else None
        if isinstance(raw, bool):
            condition = "true" if raw else "false"
        else:
            condition = reader.string(condition_node, f"{where}.condition", rule_id)
    reason = (
        reader.string(entries["reason"][1], f"{where}.reason", rule_id)
        if "reason" in entries
        else None
    )
    tags = (
        reader.string_list(entries["tags"][1], f"{where}.tags", rule_id)
        if "tags" in entries
        else ()
    )
    enabled = (
        reader.boolean(entries["enabled"][1], f"{where}.enabled", rule_id)
        if "enabled" in entries
        else True
    )
    approval = None
    if "approval" in entries:
        key_node, value_node = entries["approval"]
        if effect is not None and effect != "escalate":
            reader.problem(
                key_node,
                f"approval is only for escalate rules; this rule's effect is {effect}",
                "remove approval, or change the effect to escalate",
                rule_id,
            )
        else:
            approval = read_approval(reader, value_node, f"{where}.approval", rule_id)
    elif effect == "escalate":
        reader.problem(
            node,
            "escalate rule has no approval (who approves, how many)",
            "add approval: {roles: [approver-role]}",
            rule_id,
        )
    if len(reader.problems) > before:
        return None
    assert rule_id and description and effect and severity and match is not None
    return Rule(
        id=rule_id,
        description=description,
        match=match,
        condition=condition,
        effect=effect,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        reason=reason,
        tags=tags or (),
        enabled=bool(enabled),
        approval=approval,
        file=reader.file,
        line=reader.line(entries["id"][1]),
        condition_line=condition_line,
    )


def read_match(
    reader: NodeReader, node: yaml.Node, where: str, rule_id: str | None
) -> RuleMatch | None:
    entries = reader.mapping(node, where, _MATCH_KEYS, (), rule_id)
    if entries is None:
        return None
    kinds: tuple[str, ...] | None = ("action",)
    if "kinds" in entries:
        kinds = reader.string_list(entries["kinds"][1], f"{where}.kinds", rule_id)
        for kind in kinds or ():
            if kind not in KINDS:
                reader.problem(
                    entries["kinds"][1],
                    f"{where}.kinds has unknown kind {kind!r}",
                    f"use {' or '.join(KINDS)}",
                    rule_id,
                )
                return None
    actions: tuple[str, ...] | None = ("*",)
    if "actions" in entries:
        actions = reader.string_list(entries["actions"][1], f"{where}.actions", rule_id)
    environments: frozenset[str] | None = None
    if "environments" in entries:
        listed = reader.string_list(entries["environments"][1], f"{where}.environments", rule_id)
        environments = frozenset(listed) if listed is not None else None
    if kinds is None or actions is None:
        return None
    return RuleMatch(kinds=kinds, actions=actions, environments=environments)  # type: ignore[arg-type]


def read_approval(
    reader: NodeReader, node: yaml.Node, where: str, rule_id: str | None
) -> ApprovalRequirement | None:
    entries = reader.mapping(node, where, _APPROVAL_KEYS, ("roles",), rule_id)
    if entries is None or "roles" not in entries:
        return None
    before = len(reader.problems)
    roles = reader.string_list(entries["roles"][1], f"{where}.roles", rule_id, non_empty=True)
    quorum = (
        reader.positive_int(entries["quorum"][1], f"{where}.quorum", rule_id)
        if "quorum" in entries
        else 1
    )
    deny_quorum = (
        reader.positive_int(entries["deny_quorum"][1], f"{where}.deny_quorum", rule_id)
        if "deny_quorum" in entries
        else 1
    )
    timeout = (
        reader.duration(entries["timeout"][1], f"{where}.timeout", rule_id)
        if "timeout" in entries
        else 900
    )
    grant = (
        reader.choice(entries["grant"][1], f"{where}.grant", GRANTS, rule_id)
        if "grant" in entries
        else "one_time"
    )
    max_duration: int | None = 3600
    if "max_duration" in entries:
        key_node, value_node = entries["max_duration"]
        if grant == "one_time":
            reader.problem(
                key_node,
                f"{where}.max_duration applies only to grant: window",
                "remove max_duration or set grant: window",
                rule_id,
            )
        max_duration = reader.duration(value_node, f"{where}.max_duration", rule_id)
    break_glass = (
        reader.string_list(entries["break_glass_roles"][1], f"{where}.break_glass_roles", rule_id)
        if "break_glass_roles" in entries
        else ()
    )
    if len(reader.problems) > before:
        return None
    assert roles and quorum and deny_quorum and timeout and grant and max_duration
    grant_kind: GrantKind = "window" if grant == "window" else "one_time"
    return ApprovalRequirement(
        roles=roles,
        quorum=quorum,
        deny_quorum=deny_quorum,
        timeout_seconds=timeout,
        grant=grant_kind,
        max_duration_seconds=max_duration,
        break_glass_roles=break_glass or (),
    )
