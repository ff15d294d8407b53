"""Compiling rule conditions with Google's C++ CEL runtime (``cel-expr-python``).

Why this runtime (measured in ``docs/cel-choice.md``): building one ``Activation`` per event
is cheap (a few µs, against tens of µs for the other bindings' dict conversion), every
condition then evaluates against it in about 2 µs, and the environment is type-checked, so
an undeclared variable or a wrong operand type fails when the pack compiles.

Runtime errors (an absent map key, ``null > 1``) come back as CEL error *values*, not Python
exceptions; :class:`CompiledCondition` turns them into an outcome the engine can combine.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

from ._cel_source import ExpansionError, expand, referenced_roots
from ._errors import PolicyError
from ._model import Kind, PolicyPack, Rule
from ._variables import VARIABLES

__all__ = [
    "CompiledCondition",
    "ConditionError",
    "cel_environment",
    "compile_condition",
    "expanded_condition",
    "glob",
]


@functools.lru_cache(maxsize=65536)
def glob(text: str, pattern: str) -> bool:
    """CEL ``glob(text, pattern)``: fnmatch-style, case-sensitive (``*``, ``?``, ``[ab]``)."""
    return fnmatch.fnmatchcase(text, pattern)


_GLOB = cel.FunctionDecl(
    "glob",
    [
        cel.Overload(
            "glob_string_string",
            return_type=cel.Type.BOOL,
            parameters=[cel.Type.STRING, cel.Type.STRING],
            impl=glob,
        )
    ],
)


def _cel_type(name: str) -> Any:
    if name == "string":
        return cel.Type.STRING
    if name == "int":
        return cel.Type.INT
    if name == "map":
        return cel.Type.Map(cel.Type.STRING, cel.Type.DYN)
    if name == "list":
        return cel.Type.List(cel.Type.DYN)
    if name == "detectors":
        return cel.Type.Map(cel.Type.STRING, cel.Type.Map(cel.Type.STRING, cel.Type.DYN))
    return cel.Type.DYN


@functools.cache
def cel_environment(kind: Kind) -> Any:
    """The type-checked CEL environment for events of ``kind`` (shared, built once)."""
    return cel.NewEnv(
        variables={
            name: _cel_type(variable.cel_type) for name, variable in VARIABLES[kind].items()
        },
        functions=[_GLOB],
    )


class ConditionError(Exception):
    """Internal: why a condition could not be expanded or compiled (no location yet)."""


def expanded_condition(source: str, pack: PolicyPack) -> str:
    """``source`` with the pack's macros and lists expanded.

    Raises
    ------
    ConditionError
        On an unknown list, a misuse of ``lists`` or a macro cycle.
    """
    macros = {name: macro.source for name, macro in pack.macros.items()}
    try:
        return expand(source, macros, pack.lists)
    except ExpansionError as exc:
        raise ConditionError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A rule's condition compiled for one event kind.

    Attributes
    ----------
    source
        The expanded CEL source.
    program
        The compiled program; ``None`` for a rule without a condition (always fires).
    roots
        Variables the condition may read, so the activation holds only those.
    boolean
        Whether the checker typed the condition ``bool`` (else ``dyn``: known at run time).
    """

    source: str | None
    program: Any
    roots: frozenset[str]
    boolean: bool = True

    def outcome(self, activation: Any) -> bool | str:
        """``True``/``False``, or an error message when the condition cannot be decided."""
        if self.program is None:
            return True
        try:
            result = self.program.eval(activation)
            value = result.value()
        except Exception as exc:  # the binding may raise instead of returning
            return str(exc)
        if value is True or value is False:
            return bool(value)
        if result.type() == cel.Type.ERROR:
            return str(value)
        return f"condition gave {result.type().name()} {value!r}, not a bool"


def compile_condition(rule: Rule, kind: Kind, pack: PolicyPack) -> CompiledCondition:
    """Expand and compile ``rule``'s condition for events of ``kind``.

    Raises
    ------
    PolicyError
        When the condition does not expand, does not compile (CEL's message, with the
        expanded text when macros or lists changed it), or is not boolean.
    """
    if rule.condition is None:
        return CompiledCondition(None, None, frozenset())
    line = rule.condition_line or rule.line
    try:
        source = expanded_condition(rule.condition, pack)
    except ConditionError as exc:
        raise PolicyError(
            f"condition cannot be expanded: {exc}",
            "define the list under lists:, or break the macro cycle",
            file=rule.file,
            line=line,
            rule_id=rule.id,
        ) from exc
    shown = "" if source == rule.condition else f" (after expanding macros and lists: {source})"
    try:
        program = cel_environment(kind).compile(source)
    except RuntimeError as exc:
        fix = f"correct the CEL; variables for {kind} events: {', '.join(sorted(VARIABLES[kind]))}"
        if "type" in referenced_roots(source):
            fix = "write model.type or event.type: a bare `type` is CEL's type() function"
        raise PolicyError(
            f"condition does not compile for {kind} events: {_compiler_message(exc)}{shown}",
            fix,
            file=rule.file,
            line=line,
            rule_id=rule.id,
        ) from exc
    result_type = program.return_type()
    if result_type not in (cel.Type.BOOL, cel.Type.DYN):
        raise PolicyError(
            f"condition gives {result_type.name()}, not a bool{shown}",
            "make the condition a comparison or a boolean expression",
            file=rule.file,
            line=line,
            rule_id=rule.id,
        )
    roots = referenced_roots(source) & VARIABLES[kind].keys()
    return CompiledCondition(source, program, frozenset(roots), result_type == cel.Type.BOOL)


def _compiler_message(exc: RuntimeError) -> str:
    """CEL's compiler message without its status prefix, on one line."""
    text = str(exc).replace("INVALID_ARGUMENT: ", "").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else text
    return first.replace("ERROR: <input>:", "at line:column ").removesuffix(" [INVALID_ARGUMENT]")
