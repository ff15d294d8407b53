"""open_audit_store(): lock, client, schema and endpoint together, released together."""

from __future__ import annotations

import pytest

from clearance.audit import (
    MIGRATIONS,
    AuditStoreError,
    acquire_store_lock,
    applied_versions,
    embedded_store_path,
    open_audit_store,
    query,
    store_holder,
)


def test_an_embedded_store_is_held_migrated_and_served(store_dsn: str) -> None:
    store = embedded_store_path(store_dsn)
    assert store is not None
    with open_audit_store(store_dsn, command="worker-under-test") as opened:
        assert applied_versions(opened.client) == {m.version for m in MIGRATIONS}
        holder = store_holder(store)
        assert holder is not None
        assert holder.command == "worker-under-test"
        assert opened.endpoint is not None and holder.endpoint == opened.endpoint.url
        # query() sees the store held and goes through the endpoint
        assert query("SELECT count() FROM clearance.decisions", store_dsn).rows == [[0]]
        with pytest.raises(AuditStoreError, match="held by pid"):
            open_audit_store(store_dsn)
    assert store_holder(store) is None


def test_without_queries_there_is_no_endpoint(store_dsn: str) -> None:
    with open_audit_store(store_dsn, serve_queries=False) as opened:
        assert opened.endpoint is None
        assert opened.lock is not None and opened.lock.endpoint is None


def test_a_held_store_is_not_opened(store_dsn: str) -> None:
    store = embedded_store_path(store_dsn)
    assert store is not None
    with acquire_store_lock(store, command="someone else"):
        with pytest.raises(AuditStoreError, match=r"held by pid \d+ \(someone else\)"):
            open_audit_store(store_dsn)
        assert not store.exists()  # refused before the store was opened
