"""Action events as the audit trail remembers them, for training the access detectors.

:func:`action_history` reads the decided action events back out of ``clearance.decisions``
(one row per decision, ``FINAL``), oldest first, as ActionEvent dicts. The decisions table
holds who, what, where and when, but not the source address or the data volume, so those
come back as None: a model trained on them leaves source and volume to the explicit signals.
"""

from __future__ import annotations

from typing import Any

from clearance.audit._query import query
from clearance.audit._schema import DECISIONS_TABLE

__all__ = ["action_history"]

_COLUMNS = (
    "event_id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms, principal_id, "
    "principal_type, principal_roles, on_behalf_of, action, resource_type, resource_id, "
    "environment, sensitivity, session_id"
)


def action_history(dsn: str, days: float | None = None, limit: int = 1_000_000) -> list[dict]:
    """The most recent ``limit`` decided action events (of the last ``days`` days, if given),
    oldest first, as ActionEvent dicts."""
    where = "event_kind = 'action'"
    if days is not None:
        where += f" AND occurred_at >= now64(3) - toIntervalSecond({int(days * 86_400)})"
    sql = (
        f"SELECT * FROM (SELECT {_COLUMNS} FROM {DECISIONS_TABLE} FINAL WHERE {where} "
        f"ORDER BY occurred_at DESC LIMIT {int(limit)}) ORDER BY occurred_ms, event_id"
    )
    result = query(sql, dsn)
    return [_event(dict(zip(result.columns, row, strict=True))) for row in result.rows]


def _event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "occurred_at": int(row["occurred_ms"]),
        "principal": {
            "id": row["principal_id"],
            "type": row["principal_type"],
            "roles": list(row["principal_roles"]),
            "on_behalf_of": row["on_behalf_of"],
        },
        "action": row["action"],
        "resource": {
            "type": row["resource_type"],
            "id": row["resource_id"],
            "environment": row["environment"],
            "sensitivity": row["sensitivity"],
        },
        "session_id": row["session_id"],
        "source": None,
        "data_bytes": None,
        "context": {},
    }
