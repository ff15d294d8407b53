"""check_read_only() and run_read_only(): the statement check and the engine's readonly mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clearance.audit import (
    AuditQueryError,
    AuditWriter,
    QueryResult,
    check_read_only,
    connect,
    decision_row,
    run_read_only,
)

DecisionFactory = Callable[..., dict[str, Any]]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select count() FROM clearance.decisions;",
        "WITH 1 AS x SELECT x",
        "(SELECT 1) UNION ALL (SELECT 2)",
        "-- who was denied\nSELECT 1",
        "/* note */ SHOW TABLES FROM clearance",
        "DESCRIBE TABLE clearance.decisions",
        "DESC clearance.decisions",
        "EXPLAIN SELECT 1",
        "EXISTS TABLE clearance.decisions",
        "SELECT 'a; DROP TABLE x' AS text",
        "SELECT 'it''s' AS quoted, \"col;\" FROM t",
    ],
)
def test_read_only_statements_pass(sql: str) -> None:
    assert check_read_only(sql) == sql.strip().removesuffix(";")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("INSERT INTO clearance.decisions VALUES (1)", "'INSERT' statements may change"),
        ("DROP TABLE clearance.decisions", "'DROP' statements"),
        ("  alter table clearance.decisions delete where 1", "'ALTER' statements"),
        ("TRUNCATE clearance.dead_letters", "'TRUNCATE'"),
        ("SET readonly = 0", "'SET'"),
        ("SYSTEM SHUTDOWN", "'SYSTEM'"),
        ("/* SELECT */ DELETE FROM t WHERE 1", "'DELETE'"),
        ("SELECT 1; DROP TABLE clearance.decisions", "one statement per query"),
        ("SELECT 1 INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
        ("SELECT 1 FORMAT CSV", "leave out the FORMAT clause"),
        ("", "empty"),
        ("  ; ", "empty"),
        ("SELECT 'unterminated", "unterminated ' quote"),
        ("SELECT 1 /* open", "unterminated /* comment"),
    ],
)
def test_other_statements_are_refused(sql: str, reason: str) -> None:
    with pytest.raises(AuditQueryError, match="refused") as caught:
        check_read_only(sql)
    assert reason in str(caught.value)


@pytest.fixture
def reader(client: Client, store_dsn: str, make_decision: DecisionFactory) -> Iterator[Client]:
    rows = [
        decision_row(make_decision(n, effect="allow" if n % 2 else "deny"), 0, n) for n in range(6)
    ]
    AuditWriter(client).write_decisions(rows, "six")
    read_only = connect(store_dsn, read_only=True)
    try:
        yield read_only
    finally:
        read_only.close()


def test_run_read_only_answers_columns_types_and_rows(reader: Client) -> None:
    result = run_read_only(
        reader,
        "SELECT effect, count() AS n, min(decided_at) AS first FROM clearance.decisions "
        "GROUP BY effect ORDER BY effect",
    )
    assert isinstance(result, QueryResult)
    assert result.columns == ["effect", "n", "first"]
    assert result.types == ["LowCardinality(String)", "UInt64", "DateTime64(3, 'UTC')"]
    assert result.rows == [
        ["allow", 3, "2026-01-01 00:00:00.123"],
        ["deny", 3, "2026-01-01 00:00:00.123"],
    ]
    assert result.to_tsv() == (
        "effect\tn\tfirst\nallow\t3\t2026-01-01 00:00:00.123\ndeny\t3\t2026-01-01 00:00:00.123\n"
    )


def test_run_read_only_answers_tab_separated_with_names(reader: Client) -> None:
    body = run_read_only(reader, "SELECT 1 AS one, 'x' AS ex", fmt="tsv")
    assert body == b"one\tex\n1\tx\n"


def test_a_clickhouse_error_comes_back_as_its_message(reader: Client) -> None:
    with pytest.raises(AuditQueryError) as caught:
        run_read_only(reader, "SELECT no_such_column FROM clearance.decisions")
    message = str(caught.value)
    assert message.startswith("Code: 47. DB::Exception: Unknown expression identifier")
    assert "Traceback" not in message
    assert "(version" not in message


def test_the_engine_refuses_what_the_statement_check_would_let_through(reader: Client) -> None:
    # readonly=1 in the engine is the second guard: table functions and setting changes
    for sql in (
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
        "SELECT 1 SETTINGS readonly = 0",
    ):
        with pytest.raises(AuditQueryError, match="readonly mode"):
            run_read_only(reader, sql)


def test_into_outfile_is_not_stopped_by_readonly_in_chdb(reader: Client, tmp_path: Path) -> None:
    # why check_read_only refuses INTO OUTFILE: the engine's readonly=1 lets it write
    target = tmp_path / "leak.txt"
    reader.raw_query(f"SELECT 1 INTO OUTFILE '{target}'")
    assert target.exists()
    with pytest.raises(AuditQueryError, match="INTO OUTFILE"):
        run_read_only(reader, f"SELECT 2 INTO OUTFILE '{tmp_path / 'other.txt'}'")
    assert not (tmp_path / "other.txt").exists()


@pytest.mark.parametrize(
    ("sql", "ready"),
    [
        ("SELECT 1; -- done", "SELECT 1 -- done"),
        ("SELECT ';' AS semi;", "SELECT ';' AS semi"),
        ("SELECT 1 /* ; */ ;  ", "SELECT 1 /* ; */"),
        ("SELECT 'a\\'; b' AS escaped", "SELECT 'a\\'; b' AS escaped"),
    ],
)
def test_only_the_trailing_semicolon_is_removed(sql: str, ready: str) -> None:
    assert check_read_only(sql) == ready


def test_a_statement_with_a_trailing_comment_runs(reader: Client) -> None:
    result = run_read_only(reader, "SELECT 'x;y' AS v; -- the end")
    assert isinstance(result, QueryResult)
    assert result.rows == [["x;y"]]
