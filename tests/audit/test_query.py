"""query(): through the holder's endpoint when the store is held, directly when it is free."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clearance.audit import (
    AuditQueryError,
    AuditStoreError,
    AuditWriter,
    connect,
    decision_row,
    migrate,
    query,
    store_holder,
)

DecisionFactory = Callable[..., dict[str, Any]]

# A worker stand-in: holds the store, writes two decisions, serves queries until stdin closes.
_HOLDER = textwrap.dedent(
    """
    import sys
    from clearance.audit import (
        AuditWriter, QueryEndpoint, acquire_store_lock, connect, decision_row, migrate,
    )
    dsn = sys.argv[1]
    lock = acquire_store_lock(dsn.removeprefix("chdb://"), command="worker-under-test")
    client = connect(dsn)
    migrate(client)
    decision = {
        "decision_id": "d-1", "event_id": "e-1", "decided_at": 1767225600000,
        "occurred_at": 1767225600000, "principal": {"id": "p", "type": "agent"},
        "action": "read", "resource": {"type": "dataset", "id": "x", "environment": "prod"},
        "effect": "deny", "policy_version": "v1",
    }
    rows = [decision_row(decision, 0, 0), decision_row(dict(decision, decision_id="d-2"), 0, 1)]
    AuditWriter(client).write_decisions(rows, "holder")
    endpoint = QueryEndpoint(dsn, lock=lock)
    endpoint.start()
    print("serving", flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def held_store(tmp_path: Path) -> Iterator[tuple[str, int]]:
    dsn = f"chdb://{tmp_path / 'store'}"
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, dsn],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "serving"
            yield dsn, process.pid
        finally:
            process.kill()


def test_a_held_store_is_queried_through_its_endpoint(held_store: tuple[str, int]) -> None:
    dsn, pid = held_store
    holder = store_holder(dsn.removeprefix("chdb://"))
    assert holder is not None and holder.pid == pid and holder.endpoint is not None
    # this process cannot open the store (chDB admits one process), so an answer proves the
    # query went through the holder's endpoint
    result = query("SELECT decision_id FROM clearance.decisions ORDER BY decision_id", dsn)
    assert result.rows == [["d-1"], ["d-2"]]
    with pytest.raises(AuditStoreError, match="another process has it open"):
        connect(dsn)


def test_a_held_store_refuses_writes_through_query(held_store: tuple[str, int]) -> None:
    dsn, _ = held_store
    with pytest.raises(AuditQueryError, match="refused"):
        query("DROP TABLE clearance.decisions", dsn)
    with pytest.raises(AuditQueryError, match="Code: 47"):
        query("SELECT nope FROM clearance.decisions", dsn)
    assert query("SELECT count() FROM clearance.decisions", dsn).rows == [[2]]


def test_a_free_store_is_opened_directly_and_released(
    store_dsn: str, make_decision: DecisionFactory
) -> None:
    client = connect(store_dsn)
    migrate(client)
    AuditWriter(client).write_decisions([decision_row(make_decision(4), 0, 0)], "one")
    client.close()
    store = store_dsn.removeprefix("chdb://")
    assert store_holder(store) is None
    result = query("SELECT decision_id, effect FROM clearance.decisions", store_dsn)
    assert (result.columns, result.rows) == (["decision_id", "effect"], [["dec-4", "deny"]])
    assert store_holder(store) is None
    # and the direct path closed its client: the engine can open another store now
    connect(store_dsn + "-other").close()


def test_a_direct_query_is_read_only_too(store_dsn: str) -> None:
    client = connect(store_dsn)
    migrate(client)
    client.close()
    with pytest.raises(AuditQueryError, match="readonly mode"):
        query("SELECT * FROM file('/etc/hostname', 'LineAsString')", store_dsn)


def test_a_missing_store_is_reported_not_created(tmp_path: Path) -> None:
    store = tmp_path / "nothing-here"
    with pytest.raises(AuditStoreError, match="there is no audit store at"):
        query("SELECT 1", f"chdb://{store}")
    assert not store.exists()
