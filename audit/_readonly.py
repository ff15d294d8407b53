"""Read-only queries on the audit store: the statement check and the result shape.

Two guards, both needed: :func:`check_read_only` refuses any statement that is not a
SELECT/WITH/SHOW/DESCRIBE/EXPLAIN/EXISTS, and the session runs with ClickHouse's
``readonly=1``, which refuses writes, DDL, table functions and setting changes in the
engine. ``readonly`` does not stop ``INTO OUTFILE`` in chDB (the file is written), so the
statement check refuses that clause too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from clearance.audit._errors import AuditQueryError

__all__ = ["READ_ONLY_STATEMENTS", "QueryResult", "check_read_only", "run_read_only"]

#: First keywords of the statements the query endpoint accepts.
READ_ONLY_STATEMENTS = frozenset(
    {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"}
)

_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z]+)")
_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.IGNORECASE)
_FORMAT = re.compile(r"\bFORMAT\s+\w+\s*$", re.IGNORECASE)
_VERSION_TRAILER = re.compile(r"\s*\(version [^)]*\)\s*$")


@dataclass(frozen=True)
class QueryResult:
    """The answer to a read-only query: column names, ClickHouse types and rows.

    Values are as ClickHouse's JSON output gives them (numbers, strings, lists, objects;
    DateTime64 as ``'YYYY-MM-DD hh:mm:ss.sss'`` strings in the column's time zone).
    """

    columns: list[str]
    types: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"columns", "types", "rows"}``, the endpoint's JSON body."""
        return {"columns": self.columns, "types": self.types, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryResult:
        """Build from :meth:`to_dict`'s shape."""
        return cls(
            columns=list(data["columns"]), types=list(data["types"]), rows=list(data["rows"])
        )

    def to_tsv(self) -> str:
        """Return tab-separated text with a header line, for a terminal."""
        lines = ["\t".join(self.columns)]
        lines.extend("\t".join(_tsv_cell(value) for value in row) for row in self.rows)
        return "\n".join(lines) + "\n"


def _tsv_cell(value: Any) -> str:
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _code_only(sql: str) -> str:
    """Return ``sql`` with comments blanked to spaces and literals to ``x``, same length.

    Keeping every position lets a ``;`` found in the code be removed from the SQL itself.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if sql.startswith("--", i) or char == "#":
            end = sql.find("\n", i)
            end = n if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise AuditQueryError("refused: the query has an unterminated /* comment")
            end += 2
        elif char in "'\"`":
            j = i + 1
            while j < n and sql[j] != char:
                j += 2 if sql[j] == "\\" else 1
            if j >= n:
                raise AuditQueryError(f"refused: the query has an unterminated {char} quote")
            out.append(char + "x" * (j - i - 1) + char)
            i = j + 1
            continue
        else:
            out.append(char)
            i += 1
            continue
        out.append(" " * (end - i))
        i = end
    return "".join(out)


def check_read_only(sql: str) -> str:
    """Return the statement ready to run, or refuse it unless it only reads.

    Parameters
    ----------
    sql
        One statement; a trailing ``;`` is allowed.

    Returns
    -------
    str
        The statement without its trailing ``;``.

    Raises
    ------
    AuditQueryError
        For an empty query, several statements, a statement that is not one of
        :data:`READ_ONLY_STATEMENTS`, ``INTO OUTFILE``, or a ``FORMAT`` clause.
    """
    code = _code_only(sql)
    last = code.rstrip()
    if last.endswith(";"):
        end = len(last) - 1
        code, sql = code[:end], sql[:end] + sql[end + 1 :]
    code = code.strip()
    if not code:
        raise AuditQueryError("refused: the query is empty")
    if ";" in code:
        raise AuditQueryError("refused: send one statement per query (found ';' inside)")
    match = _FIRST_WORD.match(code)
    word = match.group(1).upper() if match else ""
    if word not in READ_ONLY_STATEMENTS:
        allowed = ", ".join(sorted(READ_ONLY_STATEMENTS))
        raise AuditQueryError(
            f"refused: '{word or code[:20]}' statements may change the audit store; "
            f"the query endpoint is read-only ({allowed})"
        )
    if _OUTFILE.search(code):
        raise AuditQueryError("refused: INTO OUTFILE writes files; the query endpoint is read-only")
    if _FORMAT.search(code):
        raise AuditQueryError(
            "refused: leave out the FORMAT clause; ask the endpoint for format=json or format=tsv"
        )
    return sql.strip()


def clickhouse_message(exc: BaseException) -> str:
    """Return ClickHouse's error text without the driver's wrapping or version trailer."""
    text = str(exc).strip()
    start = text.find("Code: ")
    if start > 0:
        text = text[start:]
    return _VERSION_TRAILER.sub("", text)


def run_read_only(client: Client, sql: str, *, fmt: str = "json") -> QueryResult | bytes:
    """Run one read-only statement on ``client`` after :func:`check_read_only`.

    Parameters
    ----------
    client
        A client opened with ``read_only=True`` (see :func:`connect`).
    sql
        The statement.
    fmt
        ``"json"`` for a :class:`QueryResult`; ``"tsv"`` for ClickHouse's
        ``TabSeparatedWithNames`` bytes.

    Raises
    ------
    AuditQueryError
        When the statement is refused, or ClickHouse fails it (its message, no traceback).
    """
    statement = check_read_only(sql)
    if fmt not in ("json", "tsv"):
        raise AuditQueryError(f"format '{fmt}' is not json or tsv")
    clickhouse_format = "JSONCompact" if fmt == "json" else "TabSeparatedWithNames"
    try:
        body = client.raw_query(statement, fmt=clickhouse_format)
    except ClickHouseError as exc:
        raise AuditQueryError(clickhouse_message(exc)) from None
    if fmt == "tsv":
        return body
    if not body.strip():
        # statements without a result set (e.g. EXISTS on some versions) answer nothing
        return QueryResult(columns=[], types=[], rows=[])
    data = json.loads(body)
    meta = data.get("meta", [])
    return QueryResult(
        columns=[column["name"] for column in meta],
        types=[column["type"] for column in meta],
        rows=data.get("data", []),
    )
