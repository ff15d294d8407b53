"""Query the audit store read-only from any process: through the holder's endpoint or directly."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from clearance.audit._connect import DSN_SETTING, connect, embedded_store_path
from clearance.audit._errors import AuditQueryError, AuditStoreError
from clearance.audit._lock import StoreHolder, acquire_store_lock, store_holder
from clearance.audit._readonly import QueryResult, check_read_only, run_read_only

__all__ = ["query"]

# A holder that has just taken the lock opens the store and starts its endpoint within a
# second or two; a query arriving meanwhile waits this long for the URL to appear.
_ENDPOINT_WAIT_S = 5.0


def query(sql: str, dsn: str, *, timeout_s: float = 120.0) -> QueryResult:
    """Run one read-only statement on the audit store and return its rows.

    For a ``chdb://`` store held by a live process (the worker running the audit sink), the
    query goes to that process's endpoint (see :class:`QueryEndpoint`); when nobody holds
    it, this process takes the store lock and opens the store itself, read-only, for the
    duration of the query. A server DSN is queried directly with ``readonly=1``.

    Parameters
    ----------
    sql
        One SELECT/WITH/SHOW/DESCRIBE/EXPLAIN/EXISTS statement.
    dsn
        ``chdb:///absolute/path`` or ``http(s)://user:password@host:port``.
    timeout_s
        How long to wait for the holder's endpoint to answer.

    Returns
    -------
    QueryResult

    Raises
    ------
    AuditQueryError
        When the statement is refused or ClickHouse fails it (ClickHouse's message).
    AuditStoreError
        When the store cannot be reached or opened.
    """
    check_read_only(sql)
    path = embedded_store_path(dsn)
    if path is None:
        return _query_client(dsn, sql)
    for _ in range(2):
        holder = store_holder(path)
        if holder is None:
            try:
                lock = acquire_store_lock(path, command="clearance audit query (read-only)")
            except AuditStoreError:
                continue  # a holder appeared in between: ask it instead
            with lock:
                if not path.exists():
                    raise AuditStoreError(
                        f"there is no audit store at {path} yet. Fix: run the worker with "
                        f"the audit sink once, or correct {DSN_SETTING}"
                    )
                return _query_client(dsn, sql)
        endpoint = _wait_for_endpoint(path, holder)
        try:
            return _post(endpoint, sql, timeout_s)
        except urllib.error.URLError as exc:
            if store_holder(path, wait_s=0) is not None:
                raise AuditStoreError(
                    f"the audit store at {path} is held by {holder.describe()}, whose query "
                    f"endpoint {endpoint} does not answer ({exc.reason}). Fix: check that "
                    "process, or stop it to query the store directly"
                ) from None
            # the holder exited meanwhile: the store is free to open directly
    raise AuditStoreError(
        f"the audit store at {path} changed hands twice during one query; try again"
    )


def _query_client(dsn: str, sql: str) -> QueryResult:
    client = connect(dsn, read_only=True)
    try:
        result = run_read_only(client, sql, fmt="json")
    finally:
        client.close()
    assert isinstance(result, QueryResult)
    return result


def _wait_for_endpoint(path: Path, holder: StoreHolder) -> str:
    deadline = time.monotonic() + _ENDPOINT_WAIT_S
    current: StoreHolder | None = holder
    while current is not None and current.endpoint is None and time.monotonic() < deadline:
        time.sleep(0.05)
        current = store_holder(path, wait_s=0)
    if current is None:
        raise AuditStoreError(
            f"the audit store at {path} was released while waiting for its endpoint; try again"
        )
    if current.endpoint is None:
        raise AuditStoreError(
            f"the embedded audit store at {path} is held by {current.describe()}, which serves "
            "no query endpoint. Fix: wait for it to finish, stop it, or set "
            f"{DSN_SETTING} to a ClickHouse server"
        )
    return current.endpoint


def _post(endpoint: str, sql: str, timeout_s: float) -> QueryResult:
    request = urllib.request.Request(
        f"{endpoint}/query",
        data=sql.encode(),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            message = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):
            message = body.decode("utf-8", "replace") or str(exc)
        raise AuditQueryError(message) from None
    return QueryResult.from_dict(data)
