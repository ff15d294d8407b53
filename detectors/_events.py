"""Reading ActionEvent / ModelEvent dicts with errors that name the event and the field."""

from collections.abc import Mapping
from typing import Any

from clearance.detectors.errors import DetectorInputError

SENSITIVITY_LEVELS: dict[str, float] = {
    "public": 0.0,
    "internal": 1.0 / 3.0,
    "confidential": 2.0 / 3.0,
    "restricted": 1.0,
}
SENSITIVE = frozenset({"confidential", "restricted"})


def event_ref(event: Mapping[str, Any]) -> str:
    """Name an event in error messages by its event_id when it has one."""
    event_id = event.get("event_id") if isinstance(event, Mapping) else None
    return f"event {event_id!r}" if event_id else "event without event_id"


def field(event: Mapping[str, Any], *path: str) -> Any:
    """Return ``event[path[0]][path[1]]...``, raising a clear error when a step is missing."""
    node: Any = event
    for depth, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            where = ".".join(path[: depth + 1])
            raise DetectorInputError(
                f"{event_ref(event)}: field {where} is missing. Fix: publish events shaped like "
                "schemas/ActionEvent.avsc or ModelEvent.avsc (decode them with the schemas codec)."
            )
        node = node[key]
    return node


def occurred_at_ms(event: Mapping[str, Any]) -> int:
    """Return occurred_at as int epoch milliseconds."""
    value = field(event, "occurred_at")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DetectorInputError(
            f"{event_ref(event)}: occurred_at={value!r} is not epoch milliseconds. Fix: decode the "
            "event with the schemas codec, which turns RFC 3339 strings into epoch milliseconds."
        )
    return int(value)


def sensitivity_of(event: Mapping[str, Any]) -> str:
    """Return resource.sensitivity, defaulting to internal like the schema does."""
    resource = field(event, "resource")
    value = resource.get("sensitivity") or "internal"
    if value not in SENSITIVITY_LEVELS:
        raise DetectorInputError(
            f"{event_ref(event)}: resource.sensitivity={value!r} is not one of "
            f"{sorted(SENSITIVITY_LEVELS)}. Fix: use the Sensitivity enum of ActionEvent.avsc."
        )
    return str(value)


def resource_key(event: Mapping[str, Any]) -> str:
    """Identify a resource as ``type/id`` (ids are unique only within their type)."""
    return f"{field(event, 'resource', 'type')}/{field(event, 'resource', 'id')}"


def peer_groups(event: Mapping[str, Any]) -> list[str]:
    """Name the peer groups of the acting principal: its roles, else its principal type.

    A principal without roles still needs peers for the peer-group features, and principals of
    the same type (agents, pipelines, ...) are the closest thing the event offers.
    """
    principal = field(event, "principal")
    roles = principal.get("roles") or []
    if roles:
        return sorted(str(role) for role in roles)
    return [f"type:{field(event, 'principal', 'type')}"]
