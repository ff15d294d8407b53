"""Counting queries on the audit store, for tests, status pages and end-to-end checks."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from clearance.audit._errors import AuditStoreError
from clearance.audit._schema import DEAD_LETTERS_TABLE, DECISIONS_TABLE

__all__ = [
    "count_dead_letters",
    "count_decisions",
    "decision_counts_by_effect",
    "duplicate_decision_ids",
]


def _scalar(client: Client, sql: str) -> int:
    try:
        return int(client.query(sql).result_rows[0][0])
    except ClickHouseError as exc:
        raise AuditStoreError(f"audit store query failed: {exc}. Query: {sql}") from exc


def count_decisions(client: Client, *, exact: bool = True) -> int:
    """Return the number of recorded decisions.

    Parameters
    ----------
    client
        A client on the audit store.
    exact
        True counts distinct decisions (``FINAL``: redeliveries collapsed); False counts
        stored rows, which include redeliveries not merged yet.
    """
    final = " FINAL" if exact else ""
    return _scalar(client, f"SELECT count() FROM {DECISIONS_TABLE}{final}")


def count_dead_letters(client: Client, *, exact: bool = True) -> int:
    """Return the number of recorded dead letters; ``exact`` as in :func:`count_decisions`."""
    final = " FINAL" if exact else ""
    return _scalar(client, f"SELECT count() FROM {DEAD_LETTERS_TABLE}{final}")


def decision_counts_by_effect(client: Client, *, exact: bool = True) -> dict[str, int]:
    """Return ``{effect: number of decisions}``; ``exact`` as in :func:`count_decisions`."""
    final = " FINAL" if exact else ""
    sql = f"SELECT effect, count() FROM {DECISIONS_TABLE}{final} GROUP BY effect"
    try:
        rows = client.query(sql).result_rows
    except ClickHouseError as exc:
        raise AuditStoreError(f"audit store query failed: {exc}. Query: {sql}") from exc
    return {str(effect): int(count) for effect, count in rows}


def duplicate_decision_ids(client: Client) -> int:
    """Return how many decision ids have more than one stored row (before ``FINAL``).

    Redeliveries leave such rows until a background merge collapses them; a non-zero result
    is normal, and is the reason exact queries need ``FINAL`` or ``decisions_final``.
    """
    return _scalar(
        client,
        f"SELECT count() FROM (SELECT decision_id FROM {DECISIONS_TABLE} "
        "GROUP BY decision_id HAVING count() > 1)",
    )
