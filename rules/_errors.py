"""The error every invalid policy pack raises, located by file, line and rule id."""

from __future__ import annotations

from clearance.errors import ClearanceError

__all__ = ["PolicyError"]


class PolicyError(ClearanceError):
    """A policy pack, rule, condition or policy test is invalid.

    Parameters
    ----------
    problem
        What is wrong, in one sentence without a trailing period.
    fix
        How to fix it.
    file
        The pack file at fault, when known.
    line
        The 1-based line in ``file``, when known.
    rule_id
        The rule at fault, when the problem belongs to one.
    """

    exit_code = 2

    def __init__(
        self,
        problem: str,
        fix: str,
        *,
        file: str | None = None,
        line: int | None = None,
        rule_id: str | None = None,
    ) -> None:
        self.problem = problem
        self.fix = fix
        self.file = file
        self.line = line
        self.rule_id = rule_id
        super().__init__(f"{self.location}{problem}. Fix: {fix}")

    @property
    def location(self) -> str:
        """``file:line: rule 'id': `` prefix, with the parts that are known."""
        parts = []
        if self.file is not None:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.rule_id is not None:
            parts.append(f"rule {self.rule_id!r}")
        return "".join(f"{part}: " for part in parts)
