"""Turn decoded Decision and DeadLetter records into rows for the audit tables.

A row is a plain tuple in the order of :data:`DECISION_COLUMNS` / :data:`DEAD_LETTER_COLUMNS`,
ready for ``client.insert(table, rows, column_names=...)``. Timestamps stay int epoch
milliseconds: a ``DateTime64(3)`` column takes them as raw ticks, with no datetime objects.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "APPROVAL_COLUMNS",
    "DEAD_LETTER_COLUMNS",
    "DECISION_COLUMNS",
    "POLICY_COLUMNS",
    "approval_row",
    "dead_letter_id",
    "dead_letter_row",
    "decision_row",
    "policy_row",
    "undecodable_letter",
]

DECISION_COLUMNS: tuple[str, ...] = (
    "decision_id",
    "event_id",
    "event_kind",
    "decided_at",
    "occurred_at",
    "principal_id",
    "principal_type",
    "principal_roles",
    "on_behalf_of",
    "action",
    "resource_type",
    "resource_id",
    "environment",
    "sensitivity",
    "session_id",
    "effect",
    "rule_ids",
    "reasons",
    "severity",
    "policy_version",
    "detector_scores",
    "explanations",
    "escalation_id",
    "approvers",
    "grant_id",
    "grant_expires_at",
    "latency_ms",
    "source_topic",
    "source_partition",
    "source_offset",
    "decision_partition",
    "decision_offset",
)

DEAD_LETTER_COLUMNS: tuple[str, ...] = (
    "dead_letter_id",
    "failed_at",
    "reason_code",
    "reason",
    "source_topic",
    "source_partition",
    "source_offset",
    "key",
    "value",
    "value_size",
    "letter_topic",
    "letter_partition",
    "letter_offset",
)

APPROVAL_COLUMNS: tuple[str, ...] = (
    "outcome_id",
    "recorded_at",
    "kind",
    "approval_id",
    "escalation_id",
    "principal_id",
    "verdict",
    "approver_id",
    "approver_type",
    "approver_roles",
    "approver_on_behalf_of",
    "reviewer_reason",
    "accepted",
    "reason_code",
    "reason",
    "status",
    "decided",
    "approvers",
    "deniers",
    "signer",
    "purpose",
    "event_id",
    "action",
    "resource_id",
    "rule_ids",
    "policy_version",
    "decision_id",
    "grant_id",
    "grant_expires_at",
    "source_topic",
    "source_partition",
    "source_offset",
    "outcome_partition",
    "outcome_offset",
)
_APPROVAL_TIMES = frozenset({"recorded_at", "grant_expires_at"})
_APPROVAL_LISTS = frozenset({"approver_roles", "approvers", "deniers", "rule_ids"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def _millis(value: Any) -> int:
    """Epoch millis from an int (the codec's form) or an aware datetime (fastavro's default)."""
    if type(value) is int:
        return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _MILLISECOND
    raise TypeError(f"expected epoch milliseconds (int), got {type(value).__name__}")


def decision_row(decision: Mapping[str, Any], partition: int, offset: int) -> tuple[Any, ...]:
    """Return the ``clearance.decisions`` row of one decoded Decision.

    Parameters
    ----------
    decision
        A Decision record as decoded from Avro (nested ``principal`` and ``resource``,
        timestamps as int epoch milliseconds).
    partition, offset
        Where the sink read the decision message on the decisions topic.

    Returns
    -------
    tuple
        Values in the order of :data:`DECISION_COLUMNS`.

    Raises
    ------
    KeyError
        When a field without an Avro default is missing.
    TypeError
        When a timestamp is neither an int nor a datetime.
    """
    principal = decision["principal"]
    resource = decision["resource"]
    expires = decision.get("grant_expires_at")
    return (
        decision["decision_id"],
        decision["event_id"],
        decision.get("event_kind", "action"),
        _millis(decision["decided_at"]),
        _millis(decision["occurred_at"]),
        principal["id"],
        principal["type"],
        principal.get("roles") or [],
        principal.get("on_behalf_of"),
        decision["action"],
        resource["type"],
        resource["id"],
        resource["environment"],
        resource.get("sensitivity", "internal"),
        decision.get("session_id"),
        decision["effect"],
        decision.get("rule_ids") or [],
        decision.get("reasons") or [],
        decision.get("severity", "info"),
        decision["policy_version"],
        decision.get("detector_scores") or {},
        decision.get("explanations") or [],
        decision.get("escalation_id"),
        decision.get("approvers") or [],
        decision.get("grant_id"),
        None if expires is None else _millis(expires),
        float(decision.get("latency_ms", 0.0)),
        decision.get("source_topic", ""),
        decision.get("source_partition", -1),
        decision.get("source_offset", -1),
        partition,
        offset,
    )


def dead_letter_row(
    letter: Mapping[str, Any], topic: str, partition: int, offset: int
) -> tuple[Any, ...]:
    """Return the ``clearance.dead_letters`` row of one decoded DeadLetter.

    Parameters
    ----------
    letter
        A DeadLetter record (``key`` and ``value`` as bytes or None).
    topic, partition, offset
        Where the sink read the letter (the dead-letter topic, or the decisions topic for a
        letter made by :func:`undecodable_letter`).

    Returns
    -------
    tuple
        Values in the order of :data:`DEAD_LETTER_COLUMNS`; key and value are the raw bytes
        (``b""`` for null), stored in ``String`` columns unchanged.
    """
    return (
        letter["dead_letter_id"],
        _millis(letter["failed_at"]),
        letter["reason_code"],
        letter["reason"],
        letter["source_topic"],
        letter["source_partition"],
        letter["source_offset"],
        letter.get("key") or b"",
        letter.get("value") or b"",
        letter.get("value_size", 0),
        topic,
        partition,
        offset,
    )


def dead_letter_id(topic: str, partition: int, offset: int) -> str:
    """Return the deterministic id of the dead letter for the message at topic[partition]@offset."""
    return f"{topic}[{partition}]@{offset}"


def undecodable_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason_code: str,
    reason: str,
    failed_at: int | None = None,
) -> dict[str, Any]:
    """Build a DeadLetter record for a message the audit sink could not decode or record.

    Parameters
    ----------
    topic, partition, offset
        The message's coordinates.
    key, value
        Its raw bytes, kept whole.
    reason_code, reason
        Machine-readable class and human-readable reason (from the codec's DecodeError).
    failed_at
        Epoch milliseconds; now when None.
    """
    return {
        "dead_letter_id": dead_letter_id(topic, partition, offset),
        "failed_at": int(time.time() * 1000) if failed_at is None else failed_at,
        "reason_code": reason_code,
        "reason": reason,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "key": key,
        "value": value,
        "value_size": len(value) if value is not None else 0,
    }


def approval_row(record: Mapping[str, Any], partition: int, offset: int) -> tuple[Any, ...]:
    """Return the ``clearance.approvals`` row of one decoded ApprovalOutcome.

    Parameters
    ----------
    record
        An ApprovalOutcome record (``schemas/ApprovalOutcome.avsc``).
    partition, offset
        Where the sink read it on the approval-outcomes topic.
    """
    values = {**record, "outcome_partition": partition, "outcome_offset": offset}
    row = []
    for column in APPROVAL_COLUMNS:
        value = values.get(column)
        if column in _APPROVAL_TIMES:
            value = None if value is None else _millis(value)
        elif column in _APPROVAL_LISTS:
            value = list(value or [])
        row.append(value)
    return tuple(row)


POLICY_COLUMNS: tuple[str, ...] = (
    "release_id",
    "slot",
    "version",
    "pack_name",
    "pushed_by",
    "pushed_at",
    "files",
    "tests_passed",
    "lint_warnings",
    "release_partition",
    "release_offset",
)


def policy_row(record: Mapping[str, Any], partition: int, offset: int) -> tuple[Any, ...]:
    """Return the ``clearance.policies`` row of one decoded PolicyRelease."""
    return (
        record["release_id"],
        record["slot"],
        record["version"],
        record.get("pack_name") or "",
        record["pushed_by"],
        _millis(record["pushed_at"]),
        {item["path"]: item["content"] for item in record["files"]},
        int(record.get("tests_passed") or 0),
        list(record.get("lint_warnings") or []),
        partition,
        offset,
    )
