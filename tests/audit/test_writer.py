"""AuditWriter: batch dedup tokens, ReplacingMergeTree collapse, and wrapped failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clearance.audit import (
    AuditStoreError,
    AuditWriter,
    connect,
    count_decisions,
    decision_row,
)

DecisionFactory = Callable[..., dict[str, Any]]


def _rows(
    make_decision: DecisionFactory, numbers: range, **overrides: Any
) -> list[tuple[Any, ...]]:
    return [decision_row(make_decision(n, **overrides), 0, n) for n in numbers]


def test_a_replayed_batch_with_the_same_token_is_dropped_at_insert(
    client: Client, make_decision: DecisionFactory
) -> None:
    writer = AuditWriter(client)
    rows = _rows(make_decision, range(10))
    assert writer.write_decisions(rows, "decisions[0]0-9") == 10
    writer.write_decisions(rows, "decisions[0]0-9")
    # no FINAL: the stored rows themselves, before any merge
    assert count_decisions(client, exact=False) == 10


def test_a_token_drops_a_replay_even_if_the_rows_differ(
    client: Client, make_decision: DecisionFactory
) -> None:
    writer = AuditWriter(client)
    writer.write_decisions(_rows(make_decision, range(3)), "same")
    writer.write_decisions(_rows(make_decision, range(3, 6)), "same")
    assert count_decisions(client, exact=False) == 3


def test_a_redelivery_in_another_batch_collapses_with_final(
    client: Client, make_decision: DecisionFactory
) -> None:
    writer = AuditWriter(client)
    writer.write_decisions(_rows(make_decision, range(10)), "first")
    # the same decisions decided again later (another batch boundary, another token)
    writer.write_decisions(
        _rows(make_decision, range(5, 15), decided_at=1_767_225_700_000), "second"
    )
    assert count_decisions(client, exact=False) == 20
    assert count_decisions(client, exact=True) == 15
    latest = client.query(
        "SELECT toUnixTimestamp64Milli(decided_at) FROM clearance.decisions_final "
        "WHERE decision_id = 'dec-7'"
    ).result_rows
    assert latest == [(1_767_225_700_000,)]


def test_a_redelivery_collapses_after_a_merge(
    client: Client, make_decision: DecisionFactory
) -> None:
    writer = AuditWriter(client)
    writer.write_decisions(_rows(make_decision, range(4)), "a")
    writer.write_decisions(_rows(make_decision, range(4)), "b")
    client.command("SYSTEM START MERGES clearance.decisions")
    client.command("OPTIMIZE TABLE clearance.decisions FINAL")
    assert count_decisions(client, exact=False) == 4


def test_long_row_lists_are_split_with_one_token_per_chunk(
    client: Client, make_decision: DecisionFactory
) -> None:
    writer = AuditWriter(client, batch_max_rows=4)
    assert writer.write_decisions(_rows(make_decision, range(10)), "big") == 10
    assert count_decisions(client, exact=False) == 10
    writer.write_decisions(_rows(make_decision, range(10)), "big")
    assert count_decisions(client, exact=False) == 10
    parts = client.query(
        "SELECT count() FROM system.parts WHERE database = 'clearance' "
        "AND table = 'decisions' AND active"
    ).result_rows
    assert parts == [(3,)]


def test_nothing_to_write_sends_nothing(client: Client) -> None:
    assert AuditWriter(client).write_decisions([], "empty") == 0
    assert count_decisions(client, exact=False) == 0


def test_a_missing_table_is_a_fatal_error_naming_table_and_count(
    store_dsn: str, make_decision: DecisionFactory
) -> None:
    unmigrated = connect(store_dsn)
    try:
        with pytest.raises(AuditStoreError) as caught:
            AuditWriter(unmigrated).write_decisions(_rows(make_decision, range(3)), "t")
    finally:
        unmigrated.close()
    assert not caught.value.transient
    assert "could not insert 3 rows into clearance.decisions" in str(caught.value)
    assert "run migrate()" in str(caught.value)


def test_a_row_of_the_wrong_shape_is_a_fatal_error(client: Client) -> None:
    with pytest.raises(AuditStoreError) as caught:
        AuditWriter(client).write_decisions([("only", "three", "values")], "t")
    assert not caught.value.transient


def test_a_closed_client_is_a_fatal_error(store_dsn: str, make_decision: DecisionFactory) -> None:
    closed = connect(store_dsn)
    closed.close()
    with pytest.raises(AuditStoreError, match="has been closed") as caught:
        AuditWriter(closed).write_decisions(_rows(make_decision, range(1)), "t")
    assert not caught.value.transient


def test_an_empty_token_is_refused(client: Client, make_decision: DecisionFactory) -> None:
    with pytest.raises(ValueError, match="dedup_token"):
        AuditWriter(client).write_decisions(_rows(make_decision, range(1)), "")
