"""QueryEndpoint: answers SELECTs over HTTP, refuses writes, and records itself in the lock."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clearance.audit import (
    AuditWriter,
    QueryEndpoint,
    acquire_store_lock,
    count_decisions,
    decision_row,
    embedded_store_path,
    store_holder,
)

DecisionFactory = Callable[..., dict[str, Any]]


def _post(url: str, sql: str | bytes, path: str = "/query") -> tuple[int, bytes]:
    data = sql.encode() if isinstance(sql, str) else sql
    request = urllib.request.Request(url + path, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def endpoint(
    client: Client, store_dsn: str, make_decision: DecisionFactory
) -> Iterator[QueryEndpoint]:
    rows = [decision_row(make_decision(n), 0, n) for n in range(3)]
    AuditWriter(client).write_decisions(rows, "three")
    with QueryEndpoint(store_dsn, max_result_rows=50) as serving:
        yield serving


def test_a_select_is_answered_as_json(endpoint: QueryEndpoint) -> None:
    status, body = _post(
        endpoint.url, "SELECT decision_id, effect FROM clearance.decisions ORDER BY decision_id"
    )
    assert status == 200
    assert json.loads(body) == {
        "columns": ["decision_id", "effect"],
        "types": ["String", "LowCardinality(String)"],
        "rows": [["dec-0", "deny"], ["dec-1", "deny"], ["dec-2", "deny"]],
    }


def test_format_tsv_answers_tab_separated_with_names(endpoint: QueryEndpoint) -> None:
    status, body = _post(
        endpoint.url, "SELECT count() AS n FROM clearance.decisions", "/query?format=tsv"
    )
    assert (status, body) == (200, b"n\n3\n")


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO clearance.decisions (decision_id) VALUES ('forged')",
        "DROP TABLE clearance.decisions",
        "SELECT 1; DROP TABLE clearance.decisions",
    ],
)
def test_writes_are_refused_and_change_nothing(
    endpoint: QueryEndpoint, client: Client, sql: str
) -> None:
    status, body = _post(endpoint.url, sql)
    assert status == 400
    assert json.loads(body)["error"].startswith("refused:")
    assert count_decisions(client) == 3


def test_a_sql_error_is_clickhouses_message(endpoint: QueryEndpoint) -> None:
    status, body = _post(endpoint.url, "SELECT nope FROM clearance.decisions")
    assert status == 400
    error = json.loads(body)["error"]
    assert error.startswith("Code: 47. DB::Exception:")
    assert "Traceback" not in error


def test_the_result_size_limit_applies(endpoint: QueryEndpoint) -> None:
    status, body = _post(endpoint.url, "SELECT number FROM numbers(1000)")
    assert status == 400
    assert "TOO_MANY_ROWS_OR_BYTES" in json.loads(body)["error"]


def test_an_empty_body_is_a_bad_request(endpoint: QueryEndpoint) -> None:
    status, body = _post(endpoint.url, b"")
    assert status == 400
    assert "send the SQL text as the body" in json.loads(body)["error"]


def test_health_and_unknown_paths(endpoint: QueryEndpoint) -> None:
    with urllib.request.urlopen(endpoint.url + "/health", timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"
    status, _ = _post(endpoint.url, "SELECT 1", "/other")
    assert status == 404


def test_it_listens_on_loopback_only(endpoint: QueryEndpoint) -> None:
    assert endpoint.url.startswith("http://127.0.0.1:")


def test_the_endpoint_url_goes_into_the_lock_and_out_on_stop(
    client: Client, store_dsn: str
) -> None:
    store = embedded_store_path(store_dsn)
    assert isinstance(store, Path)
    with acquire_store_lock(store) as lock:
        serving = QueryEndpoint(store_dsn, lock=lock)
        url = serving.start()
        holder = store_holder(store)
        assert holder is not None and holder.endpoint == url
        serving.stop()
        holder = store_holder(store)
        assert holder is not None and holder.endpoint is None
