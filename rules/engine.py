"""Deciding events against a compiled policy: which rules fire, and the combined verdict.

Hot path, per event: look up the *plan* for its (kind, action, environment) -- the rules
that can match, in pack order, and the variables their conditions and reasons read -- then
build one CEL activation holding just those variables and evaluate each condition once.
Plans are computed on first sight of a key and cached, so glob patterns are matched once per
distinct action and the per-event cost does not grow with the number of glob rules.

Combination: deny > revoke > escalate > allow. Every fired rule is reported, in pack order.
A condition that cannot be evaluated (absent key, null compared, ...) *fails closed*: it
counts as fired for deny, revoke and escalate rules and as not fired for allow rules, so an
error can only make a decision stricter; the reason says ``condition error: ...``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from clearance.errors import ClearanceError

from ._compile import CompiledCondition, cel_environment, compile_condition
from ._model import (
    EFFECT_PRECEDENCE,
    KINDS,
    SEVERITIES,
    Effect,
    Kind,
    PolicyPack,
    Rule,
)
from ._reason import ReasonTemplate
from ._variables import VARIABLES, event_key, normalize_detectors
from ._verdict import Verdict, merge_approvals

__all__ = ["CompiledPolicy", "Verdict", "compile_pack"]

# Plans are cached per (kind, action, environment); past this many distinct keys the cache
# starts over, which bounds memory when publishers send many one-off action names.
PLAN_CACHE_SIZE = 8192

_GLOB_CHARS = frozenset("*?[")
# Effect rank: higher wins. Index in EFFECT_PRECEDENCE is 0 for the strongest.
_EFFECT_RANK: dict[str, int] = {
    effect: len(EFFECT_PRECEDENCE) - index for index, effect in enumerate(EFFECT_PRECEDENCE)
}
_RANKED_EFFECT: dict[int, Effect] = {
    len(EFFECT_PRECEDENCE) - index: effect for index, effect in enumerate(EFFECT_PRECEDENCE)
}
_SEVERITY_RANK: dict[str, int] = {severity: index for index, severity in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class _RuleProgram:
    """A rule compiled for one event kind, with what the hot path needs precomputed."""

    rule: Rule
    index: int
    condition: CompiledCondition
    reason: ReasonTemplate
    effect_rank: int
    severity_rank: int
    fires_on_error: bool


@dataclass(frozen=True, slots=True)
class _Plan:
    """What to evaluate for one (kind, action, environment).

    ``combined`` is one CEL program giving the list of every condition's result (``slots``
    gives each rule's index in it, -1 for a rule without condition): one call into the
    runtime instead of one per rule, which halves the evaluation cost. When any element
    errors the whole list is an error, and the rules are evaluated one by one to find which.
    """

    programs: tuple[_RuleProgram, ...]
    slots: tuple[int, ...]
    combined: Any
    extractors: tuple[tuple[str, Callable[[Mapping[str, Any], Any], Any]], ...]
    needs_detectors: bool
    env: Any


class CompiledPolicy:
    """A policy pack with every condition compiled, ready to decide events.

    Build it with :func:`compile_pack`. Deciding is thread-compatible: the plan cache is a
    dict that concurrent callers at worst fill twice.
    """

    def __init__(self, pack: PolicyPack, programs: Mapping[Kind, Sequence[_RuleProgram]]) -> None:
        self.pack = pack
        self._exact: dict[Kind, dict[str, list[_RuleProgram]]] = {kind: {} for kind in KINDS}
        self._globs: dict[Kind, list[tuple[str, _RuleProgram]]] = {kind: [] for kind in KINDS}
        for kind, kind_programs in programs.items():
            for program in kind_programs:
                for pattern in program.rule.match.actions:
                    if _GLOB_CHARS.isdisjoint(pattern):
                        self._exact[kind].setdefault(pattern, []).append(program)
                    else:
                        self._globs[kind].append((pattern, program))
        self._plans: dict[tuple[str, str, str | None], _Plan] = {}
        reason = pack.default_reason or f"no rule matched; default effect {pack.default_effect}"
        self._default = Verdict(
            effect=pack.default_effect,
            rule_ids=(),
            reasons=(reason,),
            severity=pack.default_severity,
            approval=pack.default_approval if pack.default_effect == "escalate" else None,
            policy_version=pack.version,
        )

    @property
    def version(self) -> str:
        """The policy version: the pack's content hash."""
        return self.pack.version

    @property
    def default_effect(self) -> Effect:
        """Effect when no rule fires."""
        return self.pack.default_effect

    def rules_for(self, kind: Kind, action: str, environment: str | None) -> tuple[Rule, ...]:
        """The enabled rules that match (kind, action, environment), in pack order.

        Conditions are not evaluated: these are the rules whose conditions :meth:`decide`
        evaluates for such an event.
        """
        return tuple(program.rule for program in self._plan(kind, action, environment).programs)

    def decide(
        self,
        event: Mapping[str, Any],
        kind: Kind = "action",
        detectors: Mapping[str, Any] | None = None,
    ) -> Verdict:
        """Decide one event.

        Parameters
        ----------
        event
            An event dict shaped like ``ActionEvent`` (or ``ModelEvent`` for ``kind="model"``).
        kind
            ``action`` or ``model``.
        detectors
            Detector results by name: ``{"score": float, "label": str}`` mappings (or
            objects with ``score``/``label``); ``None`` when no detector ran.

        Returns
        -------
        Verdict
            The combined effect, fired rules and reasons, severity and approval.

        Raises
        ------
        ClearanceError
            For an unknown ``kind`` or a detector result without a numeric score. Problems
            inside the event never raise: they make conditions fail closed.
        """
        action, environment = event_key(kind, event)
        plan = self._plans.get((kind, action, environment))
        if plan is None:
            plan = self._plan(kind, action, environment)
        if not plan.programs:
            return self._default
        normalized = normalize_detectors(detectors) if plan.needs_detectors else {}
        variables = {name: extract(event, normalized) for name, extract in plan.extractors}
        activation: Any = None
        failure = ""
        try:
            activation = plan.env.Activation(variables)
        except Exception as exc:  # an unconvertible event fails closed below
            failure = f"event cannot be converted to CEL values: {exc}"
        fired: list[tuple[_RuleProgram, str | None]] = []
        errors: list[str] = []
        results: Any = None
        if activation is not None and plan.combined is not None:
            try:
                results = plan.combined.eval(activation).plain_value()
            except Exception:  # the one-by-one path below reports what failed
                results = None
        if type(results) is list:
            for program, slot in zip(plan.programs, plan.slots, strict=True):
                if slot < 0 or results[slot] is True:
                    fired.append((program, None))
        else:
            for program in plan.programs:
                outcome = (
                    program.condition.outcome(activation) if activation is not None else failure
                )
                if outcome is True:
                    fired.append((program, None))
                elif outcome is not False:
                    errors.append(f"{program.rule.id}: {outcome}")
                    if program.fires_on_error:
                        fired.append((program, str(outcome)))
        if not fired:
            if errors:
                return replace(self._default, condition_errors=tuple(errors))
            return self._default
        return self._combine(fired, variables, errors)

    def decide_many(
        self,
        events: Iterable[Mapping[str, Any]],
        kind: Kind = "action",
        detectors_list: Iterable[Mapping[str, Any] | None] | None = None,
    ) -> list[Verdict]:
        """Decide a batch of events; ``detectors_list`` (if given) aligns with ``events``.

        The CEL runtime has no cheaper batch form (one activation holding the whole batch
        measured slower per event), so this is :meth:`decide` in a loop.

        Raises
        ------
        ClearanceError
            When ``detectors_list`` is not as long as ``events``.
        """
        decide = self.decide
        if detectors_list is None:
            return [decide(event, kind) for event in events]
        event_list, detector_list = list(events), list(detectors_list)
        if len(event_list) != len(detector_list):
            raise ClearanceError(
                f"decide_many got {len(event_list)} events but {len(detector_list)} detector"
                " results. Fix: pass one detectors entry (or None) per event"
            )
        return [
            decide(event, kind, found)
            for event, found in zip(event_list, detector_list, strict=True)
        ]

    def _combine(
        self,
        fired: list[tuple[_RuleProgram, str | None]],
        variables: Mapping[str, Any],
        errors: list[str],
    ) -> Verdict:
        effect = _RANKED_EFFECT[max(program.effect_rank for program, _ in fired)]
        reasons = tuple(
            program.reason.render(variables)
            if error is None
            else f"condition error: {error} (counted as fired: {program.rule.effect} fails closed)"
            for program, error in fired
        )
        approval = None
        if effect == "escalate":
            approval = merge_approvals(
                [program.rule for program, _ in fired if program.rule.effect == "escalate"]
            )
        return Verdict(
            effect=effect,
            rule_ids=tuple(program.rule.id for program, _ in fired),
            reasons=reasons,
            severity=SEVERITIES[max(program.severity_rank for program, _ in fired)],
            approval=approval,
            policy_version=self.pack.version,
            condition_errors=tuple(errors),
        )

    def _plan(self, kind: Kind, action: str, environment: str | None) -> _Plan:
        if kind not in self._exact:
            raise ClearanceError(f"unknown event kind {kind!r}. Fix: use one of {', '.join(KINDS)}")
        matched = {id(p): p for p in self._exact[kind].get(action, ())}
        for pattern, program in self._globs[kind]:
            if fnmatch.fnmatchcase(action, pattern):
                matched[id(program)] = program
        programs = tuple(
            sorted(
                (
                    program
                    for program in matched.values()
                    if program.rule.match.environments is None
                    or environment in program.rule.match.environments
                ),
                key=lambda program: program.index,
            )
        )
        roots: set[str] = set()
        for program in programs:
            roots |= program.condition.roots | program.reason.roots
        table = VARIABLES[kind]
        names = sorted(roots & table.keys())
        env = cel_environment(kind)
        conditional = [program for program in programs if program.condition.program is not None]
        slots = tuple(
            conditional.index(program) if program.condition.program is not None else -1
            for program in programs
        )
        plan = _Plan(
            programs=programs,
            slots=slots,
            combined=_combine_conditions(env, conditional),
            extractors=tuple((name, table[name].extract) for name in names),
            needs_detectors="detectors" in roots,
            env=env,
        )
        if len(self._plans) >= PLAN_CACHE_SIZE:
            self._plans.clear()
        self._plans[(kind, action, environment)] = plan
        return plan


def _combine_conditions(env: Any, conditional: Sequence[_RuleProgram]) -> Any:
    """One program listing every condition's result, or ``None`` when not worth it."""
    if len(conditional) < 2:
        return None
    # A condition typed dyn might give a non-bool; the ternary turns that into an error, so
    # the one-by-one path reports it instead of the list hiding it as "not true".
    source = (
        "["
        + ", ".join(
            f"({program.condition.source})"
            if program.condition.boolean
            else f"(({program.condition.source}) ? true : false)"
            for program in conditional
        )
        + "]"
    )
    try:
        return env.compile(source)
    except RuntimeError:  # each condition compiled alone; evaluate them alone then
        return None


def compile_pack(pack: PolicyPack) -> CompiledPolicy:
    """Compile every enabled rule's condition once, for each event kind it matches.

    Parameters
    ----------
    pack
        A pack from :func:`load_pack`.

    Returns
    -------
    CompiledPolicy
        Ready to :meth:`~CompiledPolicy.decide`.

    Raises
    ------
    PolicyError
        On the first condition that does not expand, compile, or give a bool, naming its
        file, line and rule id.
    """
    programs: dict[Kind, list[_RuleProgram]] = {kind: [] for kind in KINDS}
    for index, rule in enumerate(pack.rules):
        if not rule.enabled:
            continue
        reason = ReasonTemplate.parse(rule.reason_template)
        for kind in rule.match.kinds:
            condition = compile_condition(rule, kind, pack)
            programs[kind].append(
                _RuleProgram(
                    rule=rule,
                    index=index,
                    condition=condition,
                    reason=reason,
                    effect_rank=_EFFECT_RANK[rule.effect],
                    severity_rank=_SEVERITY_RANK[rule.severity],
                    fires_on_error=rule.effect != "allow",
                )
            )
    return CompiledPolicy(pack, programs)
