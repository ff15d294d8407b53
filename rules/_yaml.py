"""YAML reading that keeps line numbers, so every policy problem can name its file:line.

PyYAML's composer gives a node tree with marks; values are built from nodes only where
plain Python data is wanted. Problems are collected, not raised one at a time, so lint can
report every mistake in a pack in one run.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import yaml

from ._errors import PolicyError

__all__ = ["NodeReader", "parse_duration", "read_yaml"]

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int | None:
    """Seconds in a duration like ``90s``, ``15m``, ``1h30m`` or ``2d``; ``None`` if invalid."""
    text = text.strip()
    position, total = 0, 0
    for found in _DURATION.finditer(text):
        if found.start() != position:
            return None
        total += int(found.group(1)) * _UNIT_SECONDS[found.group(2)]
        position = found.end()
    return total if text and position == len(text) else None


def read_yaml(text: str, file: str) -> tuple[yaml.Node | None, yaml.SafeLoader | None]:
    """Compose ``text`` into one node tree; a file with no document gives ``(None, None)``.

    Raises
    ------
    PolicyError
        On a YAML syntax error or more than one document, with the line.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PolicyError(
            f"invalid YAML: {exc.problem or exc}",
            "correct the YAML syntax at that line",
            file=file,
            line=mark.line + 1 if mark is not None else None,
        ) from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"invalid YAML: {exc}", "correct the YAML syntax", file=file) from exc
    if node is None:
        return None, None
    return node, loader


class NodeReader:
    """Typed access to a composed YAML tree, recording a :class:`PolicyError` per problem.

    Every ``read_*`` method returns ``None`` after recording a problem, so callers go on
    validating the rest of the file.
    """

    def __init__(self, file: str, loader: yaml.SafeLoader) -> None:
        self.file = file
        self.problems: list[PolicyError] = []
        self._loader = loader

    @staticmethod
    def line(node: yaml.Node) -> int:
        """1-based line where ``node`` starts."""
        return int(node.start_mark.line) + 1

    def problem(self, node: yaml.Node, problem: str, fix: str, rule_id: str | None = None) -> None:
        """Record a problem located at ``node``."""
        self.problems.append(
            PolicyError(problem, fix, file=self.file, line=self.line(node), rule_id=rule_id)
        )

    def value(self, node: yaml.Node) -> Any:
        """The plain Python value of ``node`` (mappings, lists, scalars)."""
        return self._loader.construct_object(node, deep=True)

    def mapping(
        self,
        node: yaml.Node,
        where: str,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
        rule_id: str | None = None,
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """Keys of a mapping node to (key node, value node), checking keys.

        Parameters
        ----------
        node
            The node that must be a mapping.
        where
            Path of the node for messages, like ``rules[2].approval``.
        allowed
            Keys allowed; ``None`` allows any string key.
        required
            Keys that must be present.
        rule_id
            Rule the mapping belongs to, for messages.
        """
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                node, f"{where} must be a mapping (key: value)", "write it as a mapping", rule_id
            )
            return None
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        allowed_keys = None if allowed is None else tuple(allowed)
        for key_node, value_node in node.value:
            key = self.value(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problem(
                    key_node, f"{where} has a non-string key", "use a plain name as key", rule_id
                )
                continue
            if key in entries:
                first = self.line(entries[key][0])
                self.problem(
                    key_node,
                    f"{where}.{key} is given twice (first at line {first})",
                    "keep one of them",
                    rule_id,
                )
                continue
            if allowed_keys is not None and key not in allowed_keys:
                close = difflib.get_close_matches(key, allowed_keys, n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else "allowed: " + ", ".join(allowed_keys)
                )
                self.problem(key_node, f"unknown key {where}.{key}", hint, rule_id)
                continue
            entries[key] = (key_node, value_node)
        for key in required:
            if key not in entries:
                self.problem(node, f"{where}.{key} is required", f"add {key}: ...", rule_id)
        return entries

    def string(
        self, node: yaml.Node, where: str, rule_id: str | None = None, empty_ok: bool = False
    ) -> str | None:
        """A non-empty string scalar."""
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, str) or (not empty_ok and not value.strip()):
            self.problem(
                node,
                f"{where} must be a non-empty string, got {self._show(node)}",
                "quote it as text",
                rule_id,
            )
            return None
        return value

    def choice(
        self, node: yaml.Node, where: str, choices: Iterable[str], rule_id: str | None = None
    ) -> str | None:
        """A string that must be one of ``choices``."""
        options = tuple(choices)
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if value not in options:
            self.problem(
                node,
                f"{where} must be one of {', '.join(options)}, got {self._show(node)}",
                f"use one of {', '.join(options)}",
                rule_id,
            )
            return None
        return str(value)

    def boolean(self, node: yaml.Node, where: str, rule_id: str | None = None) -> bool | None:
        """A YAML boolean."""
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, bool):
            self.problem(
                node,
                f"{where} must be true or false, got {self._show(node)}",
                "write true or false",
                rule_id,
            )
            return None
        return value

    def positive_int(self, node: yaml.Node, where: str, rule_id: str | None = None) -> int | None:
        """An integer >= 1."""
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.problem(
                node,
                f"{where} must be an integer >= 1, got {self._show(node)}",
                "write a whole number such as 1 or 2",
                rule_id,
            )
            return None
        return value

    def duration(self, node: yaml.Node, where: str, rule_id: str | None = None) -> int | None:
        """A positive duration (``15m``, ``1h30m``, or whole seconds), in seconds."""
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        seconds: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        elif isinstance(value, str):
            seconds = parse_duration(value)
        if seconds is None or seconds <= 0:
            self.problem(
                node,
                f"{where} must be a positive duration, got {self._show(node)}",
                "write it like 90s, 15m, 1h30m or 2d",
                rule_id,
            )
            return None
        return seconds

    def string_list(
        self, node: yaml.Node, where: str, rule_id: str | None = None, non_empty: bool = False
    ) -> tuple[str, ...] | None:
        """A list of non-empty strings (duplicates removed, order kept)."""
        if not isinstance(node, yaml.SequenceNode):
            self.problem(
                node,
                f"{where} must be a list, got {self._show(node)}",
                "write it as [a, b] or one '- item' per line",
                rule_id,
            )
            return None
        items: list[str] = []
        for index, item_node in enumerate(node.value):
            item = self.string(item_node, f"{where}[{index}]", rule_id)
            if item is None:
                return None
            if item not in items:
                items.append(item)
        if non_empty and not items:
            self.problem(node, f"{where} must not be empty", "list at least one value", rule_id)
            return None
        return tuple(items)

    def _show(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            return repr(self.value(node))
        return "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
