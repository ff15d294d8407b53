"""Open the audit store the way a long-running process does: lock, client, schema, endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from clickhouse_connect.driver.client import Client

from clearance.audit._connect import connect, embedded_store_path
from clearance.audit._endpoint import QueryEndpoint
from clearance.audit._lock import StoreLock, acquire_store_lock
from clearance.audit._schema import migrate

__all__ = ["AuditStore", "open_audit_store"]


@dataclass
class AuditStore:
    """An open audit store: a writable client and, for chDB, the lock and the query endpoint."""

    dsn: str
    client: Client
    lock: StoreLock | None = None
    endpoint: QueryEndpoint | None = None

    def close(self) -> None:
        """Stop the endpoint, close the client, release the lock; idempotent."""
        if self.endpoint is not None:
            self.endpoint.stop()
        self.client.close()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_audit_store(
    dsn: str,
    *,
    command: str | None = None,
    serve_queries: bool = True,
    endpoint_port: int = 0,
) -> AuditStore:
    """Open the store for writing, migrated; for chDB, hold it and serve read-only queries.

    Parameters
    ----------
    dsn
        ``chdb:///absolute/path`` or ``http(s)://user:password@host:port``.
    command
        What this process is, for the message a second process gets (the command line when
        None).
    serve_queries
        For chDB, start a :class:`QueryEndpoint` on 127.0.0.1 and record it in the lock, so
        that :func:`query` in other processes can read the store this process holds.
    endpoint_port
        The endpoint's port; 0 picks a free one.

    Returns
    -------
    AuditStore
        Close it (or use ``with``) to release everything.

    Raises
    ------
    AuditStoreError
        When another process holds the embedded store (naming it), or the store cannot be
        opened or migrated.
    """
    path = embedded_store_path(dsn)
    lock = acquire_store_lock(path, command=command) if path is not None else None
    try:
        client = connect(dsn)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    store = AuditStore(dsn=dsn, client=client, lock=lock)
    try:
        migrate(client)
        if lock is not None and serve_queries:
            store.endpoint = QueryEndpoint(dsn, lock=lock, port=endpoint_port)
            store.endpoint.start()
    except BaseException:
        store.close()
        raise
    return store
