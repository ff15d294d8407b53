"""Reason templates: ``"agent {principal.id} exports {resource.sensitivity} data"``.

A placeholder is a dotted path into the event's CEL variables; ``{{`` and ``}}`` are literal
braces. Templates are parsed once at compile time and rendered only for rules that fired.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ReasonTemplate"]

_PART = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\}")
_MISSING = "<none>"


@dataclass(frozen=True, slots=True)
class ReasonTemplate:
    """A parsed template: literal text and placeholder paths, alternating."""

    parts: tuple[str | tuple[str, ...], ...]

    @classmethod
    def parse(cls, text: str) -> ReasonTemplate:
        """Parse ``text``; a brace that is not a placeholder is kept as written."""
        parts: list[str | tuple[str, ...]] = []
        literal: list[str] = []
        position = 0
        for found in _PART.finditer(text):
            literal.append(text[position : found.start()])
            token = found.group()
            if token in ("{{", "}}"):
                literal.append(token[0])
            else:
                parts.append("".join(literal))
                literal = []
                parts.append(tuple(found.group(1).split(".")))
            position = found.end()
        literal.append(text[position:])
        parts.append("".join(literal))
        return cls(tuple(part for part in parts if part != ""))

    def paths(self) -> Iterator[tuple[str, ...]]:
        """The placeholder paths, in order."""
        return (part for part in self.parts if isinstance(part, tuple))

    @property
    def roots(self) -> frozenset[str]:
        """Variables the template reads."""
        return frozenset(path[0] for path in self.paths())

    def render(self, variables: Mapping[str, Any]) -> str:
        """The text with each placeholder replaced; an absent value renders as ``<none>``."""
        out: list[str] = []
        for part in self.parts:
            if part.__class__ is str:
                out.append(part)  # type: ignore[arg-type]
                continue
            value: Any = variables
            for name in part:
                # dict first: the ABC check costs more than the whole lookup.
                if value.__class__ is dict or isinstance(value, Mapping):
                    value = value.get(name)
                else:
                    value = None
                if value is None:
                    break
            out.append(_MISSING if value is None else _show(value))
        return "".join(out)


def _show(value: Any) -> str:
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(item) for item in value)
    return str(value)
