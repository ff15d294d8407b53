"""The CEL variables a condition can read, per event kind, and how each is taken from an event.

Events are plain dicts shaped like the Avro records ``ActionEvent`` and ``ModelEvent``.
Every variable has a declared CEL type, so the checker rejects ``action.foo`` or
``occurred_at + "x"`` when the pack is compiled rather than on the first event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clearance.errors import ClearanceError

__all__ = [
    "VARIABLES",
    "Variable",
    "event_key",
    "normalize_detectors",
]

Event = Mapping[str, Any]
Detectors = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Variable:
    """A CEL variable.

    Attributes
    ----------
    name
        The identifier conditions use.
    cel_type
        Declared CEL type: ``string``, ``int``, ``dyn``, ``map``, ``list`` or ``detectors``.
    extract
        Takes the event and the normalized detectors, returns the value.
    schema
        Where the variable's fields are in the Avro schemas, as (record name, field, ...);
        ``()`` for no fields, ``None`` for free-form keys. Lint uses it.
    """

    name: str
    cel_type: str
    extract: Callable[[Event, Detectors], Any]
    schema: tuple[str, ...] | None = ()


def occurred_at_millis(event: Event) -> Any:
    """``occurred_at`` as epoch milliseconds, whether the decoder gave an int or a datetime."""
    value = event.get("occurred_at")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    return value


def _field(name: str, default: Any = None) -> Callable[[Event, Detectors], Any]:
    def extract(event: Event, detectors: Detectors) -> Any:
        value = event.get(name)
        return default if value is None else value

    return extract


def _model_action(event: Event) -> str:
    return f"model.{event.get('type')}"


def _model(event: Event, detectors: Detectors) -> dict[str, Any]:
    return {
        "model_id": event.get("model_id"),
        "model_version": event.get("model_version"),
        "type": event.get("type"),
        "environment": event.get("environment"),
        "from_environment": event.get("from_environment"),
        "passed": event.get("passed"),
        "metrics": event.get("metrics") or {},
        "drift": event.get("drift") or {},
    }


def _empty_list(event: Event, detectors: Detectors) -> list[Any]:
    return []


_COMMON: tuple[Variable, ...] = (
    Variable("event_id", "string", _field("event_id")),
    Variable("occurred_at", "int", lambda event, detectors: occurred_at_millis(event)),
    Variable("context", "map", _field("context", {}), None),
    Variable("detectors", "detectors", lambda event, detectors: detectors, ("detectors",)),
    # Reserved for grants in force; always empty until grants feed back into decisions.
    Variable("grants", "list", _empty_list),
)

VARIABLES: Mapping[str, Mapping[str, Variable]] = {
    "action": {
        variable.name: variable
        for variable in (
            *_COMMON,
            Variable("principal", "map", _field("principal"), ("ActionEvent", "principal")),
            Variable("action", "string", _field("action")),
            Variable("resource", "map", _field("resource"), ("ActionEvent", "resource")),
            Variable("session_id", "dyn", _field("session_id")),
            Variable("source", "dyn", _field("source")),
            Variable("data_bytes", "dyn", _field("data_bytes")),
            Variable("event", "map", lambda event, detectors: event, ("ActionEvent",)),
        )
    },
    "model": {
        variable.name: variable
        for variable in (
            *_COMMON,
            # ``type`` is CEL's type-of function and cannot be a variable: use model.type.
            Variable("model", "map", _model, ("model",)),
            Variable("action", "string", lambda event, detectors: _model_action(event)),
            Variable("model_id", "string", _field("model_id")),
            Variable("model_version", "string", _field("model_version")),
            Variable("environment", "string", _field("environment")),
            Variable("actor", "dyn", _field("actor"), ("ModelEvent", "actor")),
            Variable("from_environment", "dyn", _field("from_environment")),
            Variable("passed", "dyn", _field("passed")),
            Variable("metrics", "map", _field("metrics", {}), None),
            Variable("drift", "map", _field("drift", {}), None),
            Variable("features", "list", _field("features", [])),
            Variable("event", "map", lambda event, detectors: event, ("ModelEvent",)),
        )
    },
}


def event_key(kind: str, event: Event) -> tuple[str, str | None]:
    """The (action, environment) an event is matched on.

    Action events use ``action`` and ``resource.environment``; model events use
    ``model.<type>`` (``model.deployment``, ...) and ``environment``.
    """
    if kind == "model":
        return _model_action(event), event.get("environment")
    resource = event.get("resource")
    environment = resource.get("environment") if isinstance(resource, Mapping) else None
    action = event.get("action")
    return (action if isinstance(action, str) else ""), environment


def normalize_detectors(detectors: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Turn detector results into the ``detectors`` variable: name -> {score, label}.

    A result may be a mapping with ``score`` (and optionally ``label``), an object with
    ``score`` and ``label`` attributes, or a bare number (the score, with an empty label).
    Scores become floats so ``detectors.x.score > 1`` and ``> 0.9`` both type-check.
    ``detectors`` already in that shape (a dict of ``{"score": float, "label": str}`` dicts,
    what the stream's detectors hand over for every event) is returned as it is.

    Raises
    ------
    ClearanceError
        When a result has no numeric score.
    """
    if not detectors:
        return {}
    if type(detectors) is dict:
        for name, result in detectors.items():
            if not (
                type(name) is str
                and type(result) is dict
                and len(result) == 2
                and type(result.get("score")) is float
                and type(result.get("label")) is str
            ):
                break
        else:
            return detectors
    normalized: dict[str, dict[str, Any]] = {}
    for name, result in detectors.items():
        if isinstance(result, Mapping):
            score, label = result.get("score"), result.get("label", "")
        elif isinstance(result, (int, float)) and not isinstance(result, bool):
            score, label = result, ""
        else:
            score, label = getattr(result, "score", None), getattr(result, "label", "")
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise ClearanceError(
                f"detector result {name!r} has no numeric score (got {result!r}). Fix: pass"
                " detectors as {name: {'score': float, 'label': str}} or objects with"
                " .score and .label"
            )
        normalized[str(name)] = {"score": float(score), "label": "" if label is None else label}
    return normalized
