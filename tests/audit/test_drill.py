"""StoreDrill: the audit writer failing or slowing down on purpose, as a lost store would."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clearance.audit import AuditStoreError, AuditWriter, StoreDrill, count_decisions, decision_row

DecisionFactory = Callable[..., dict[str, Any]]


def _rows(make_decision: DecisionFactory, count: int) -> list[tuple[Any, ...]]:
    return [decision_row(make_decision(n), 0, n) for n in range(count)]


def test_without_a_drill_file_inserts_go_through(
    client: Client, make_decision: DecisionFactory, tmp_path: Path
) -> None:
    writer = AuditWriter(client, drill=StoreDrill(tmp_path / "absent"))
    assert writer.write_decisions(_rows(make_decision, 3), "t") == 3
    assert count_decisions(client, exact=False) == 3


def test_unreachable_refuses_every_insert_as_a_transient_failure(
    client: Client, make_decision: DecisionFactory, tmp_path: Path
) -> None:
    drill = tmp_path / "drill"
    drill.write_text("unreachable\n")
    writer = AuditWriter(client, drill=StoreDrill(drill))
    with pytest.raises(AuditStoreError, match="connection refused") as failure:
        writer.write_decisions(_rows(make_decision, 3), "t")
    assert failure.value.transient
    assert count_decisions(client, exact=False) == 0
    drill.write_text("")
    assert writer.write_decisions(_rows(make_decision, 3), "t") == 3


def test_lost_response_stores_the_rows_and_a_retry_adds_none(
    client: Client, make_decision: DecisionFactory, tmp_path: Path
) -> None:
    drill = tmp_path / "drill"
    drill.write_text("lost-response")
    writer = AuditWriter(client, drill=StoreDrill(drill))
    rows = _rows(make_decision, 4)
    with pytest.raises(AuditStoreError, match="connection reset") as failure:
        writer.write_decisions(rows, "batch-1")
    assert failure.value.transient
    assert count_decisions(client, exact=False) == 4
    drill.unlink()
    writer.write_decisions(rows, "batch-1")  # the sink's retry, same token
    assert count_decisions(client, exact=False) == 4


def test_slow_delays_every_insert(
    client: Client, make_decision: DecisionFactory, tmp_path: Path
) -> None:
    drill = tmp_path / "drill"
    drill.write_text("slow:0.3")
    writer = AuditWriter(client, drill=StoreDrill(drill))
    started = time.monotonic()
    writer.write_decisions(_rows(make_decision, 2), "t")
    assert time.monotonic() - started >= 0.3
