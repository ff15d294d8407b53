"""The root of every error Clearance raises on purpose.

This module imports nothing, so every package (schemas, rules, detectors, audit, streams)
may derive its errors from :class:`ClearanceError`. The CLI prints a ``ClearanceError`` as
one line with its fix and exits non-zero; anything else is a bug and keeps its traceback.
"""

__all__ = ["ClearanceError", "ConfigError"]


class ClearanceError(Exception):
    """A failure the user can act on: the message says what went wrong and how to fix it."""

    exit_code = 1


class ConfigError(ClearanceError):
    """A setting is missing or has a value Clearance cannot use."""

    exit_code = 2

    def __init__(self, setting: str, value: object, problem: str, fix: str) -> None:
        self.setting = setting
        self.value = value
        self.problem = problem
        self.fix = fix
        super().__init__(f"{setting}={value!r}: {problem}. Fix: {fix}")
