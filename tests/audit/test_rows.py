"""decision_row() and dead_letter_row(): field mapping, defaults, and a round trip in chDB."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clearance.audit import (
    DEAD_LETTER_COLUMNS,
    DECISION_COLUMNS,
    AuditWriter,
    dead_letter_row,
    decision_row,
    undecodable_letter,
)

DecisionFactory = Callable[..., dict[str, Any]]


def test_a_decision_row_has_one_value_per_column(make_decision: DecisionFactory) -> None:
    row = dict(zip(DECISION_COLUMNS, decision_row(make_decision(5), 2, 900), strict=True))
    assert row["decision_id"] == "dec-5"
    assert row["principal_id"] == "agent-7"
    assert row["principal_roles"] == ["deployer", "reader"]
    assert row["on_behalf_of"] == "alice"
    assert row["resource_type"] == "cluster"
    assert row["environment"] == "prod"
    assert row["sensitivity"] == "restricted"
    assert row["decided_at"] == 1_767_225_600_123
    assert row["detector_scores"] == {"rate": 0.25, "novelty": 0.9}
    assert row["source_offset"] == 5
    assert (row["decision_partition"], row["decision_offset"]) == (2, 900)


def test_fields_with_avro_defaults_may_be_missing(make_decision: DecisionFactory) -> None:
    decision = make_decision()
    for name in ("event_kind", "session_id", "rule_ids", "reasons", "severity", "latency_ms"):
        del decision[name]
    del decision["principal"]["roles"]
    del decision["resource"]["sensitivity"]
    row = dict(zip(DECISION_COLUMNS, decision_row(decision, 0, 0), strict=True))
    assert row["event_kind"] == "action"
    assert row["session_id"] is None
    assert row["rule_ids"] == []
    assert row["severity"] == "info"
    assert row["latency_ms"] == 0.0
    assert row["principal_roles"] == []
    assert row["sensitivity"] == "internal"


def test_a_missing_required_field_raises_key_error(make_decision: DecisionFactory) -> None:
    decision = make_decision()
    del decision["effect"]
    with pytest.raises(KeyError, match="effect"):
        decision_row(decision, 0, 0)


def test_datetimes_become_epoch_millis(make_decision: DecisionFactory) -> None:
    moment = datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    row = decision_row(make_decision(decided_at=moment, grant_expires_at=moment), 0, 0)
    values = dict(zip(DECISION_COLUMNS, row, strict=True))
    assert values["decided_at"] == values["grant_expires_at"] == 1_767_225_600_123


def test_a_timestamp_of_another_type_is_refused(make_decision: DecisionFactory) -> None:
    with pytest.raises(TypeError, match="epoch milliseconds"):
        decision_row(make_decision(decided_at="2026-01-01"), 0, 0)


def _read_back(client: Client, table: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    # epoch millis and raw bytes, so the comparison is with exactly what was written
    names = ", ".join(
        f"toUnixTimestamp64Milli({c})" if c in ("decided_at", "occurred_at", "failed_at") else c
        for c in columns
    ).replace("grant_expires_at", "toUnixTimestamp64Milli(grant_expires_at)")
    result = client.query(
        f"SELECT {names} FROM {table} ORDER BY 1", query_formats={"String": "bytes"}
    )
    return [dict(zip(columns, row, strict=True)) for row in result.result_rows]


def test_decision_rows_round_trip_through_chdb(
    client: Client, make_decision: DecisionFactory
) -> None:
    decisions = [
        make_decision(1),
        make_decision(2, grant_id="g-1", grant_expires_at=1_767_229_200_000, effect="allow"),
        make_decision(3, principal={"id": "bob", "type": "human"}, session_id=None),
    ]
    rows = [decision_row(d, 4, 100 + n) for n, d in enumerate(decisions)]
    AuditWriter(client).write_decisions(rows, "round-trip")
    stored = _read_back(client, "clearance.decisions", DECISION_COLUMNS)

    def normal(value: Any) -> Any:
        return value.decode() if isinstance(value, bytes) else value

    def normalised(row: dict[str, Any]) -> dict[str, Any]:
        out = {k: normal(v) for k, v in row.items()}
        out["principal_roles"] = [normal(v) for v in out["principal_roles"]]
        out["rule_ids"] = [normal(v) for v in out["rule_ids"]]
        out["reasons"] = [normal(v) for v in out["reasons"]]
        out["explanations"] = [normal(v) for v in out["explanations"]]
        out["approvers"] = [normal(v) for v in out["approvers"]]
        out["detector_scores"] = {normal(k): v for k, v in out["detector_scores"].items()}
        return out

    expected = [dict(zip(DECISION_COLUMNS, row, strict=True)) for row in rows]
    assert [normalised(r) for r in stored] == expected


def test_dead_letter_rows_keep_the_raw_bytes(client: Client) -> None:
    value = b"\x00\xffnot avro\x80"
    letter = undecodable_letter(
        topic="clearance.decisions",
        partition=1,
        offset=77,
        key=b"agent-7",
        value=value,
        reason_code="undecodable",
        reason="bad magic byte",
        failed_at=1_767_225_600_000,
    )
    row = dead_letter_row(letter, "clearance.decisions", 1, 77)
    AuditWriter(client).write_dead_letters([row], "letters")
    stored = _read_back(client, "clearance.dead_letters", DEAD_LETTER_COLUMNS)
    assert len(stored) == 1
    assert stored[0]["value"] == value
    assert stored[0]["key"] == b"agent-7"
    assert stored[0]["value_size"] == len(value)
    assert stored[0]["dead_letter_id"] == b"clearance.decisions[1]@77"
    assert stored[0]["failed_at"] == 1_767_225_600_000
    assert stored[0]["letter_offset"] == 77


def test_a_null_key_and_value_are_stored_empty() -> None:
    letter = undecodable_letter(
        topic="t", partition=0, offset=1, key=None, value=None, reason_code="x", reason="y"
    )
    row = dict(zip(DEAD_LETTER_COLUMNS, dead_letter_row(letter, "t", 0, 1), strict=True))
    assert (row["key"], row["value"], row["value_size"]) == (b"", b"", 0)
    assert abs(row["failed_at"] - time.time() * 1000) < 60_000
