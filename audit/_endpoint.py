"""The read-only query endpoint of the process that holds the embedded audit store.

chDB admits one process per store, so the holder (the worker running the audit sink) serves
queries for everybody else: ``POST /query`` with the SQL text as the body answers JSON
``{"columns", "types", "rows"}`` (or ``TabSeparatedWithNames`` with ``?format=tsv``);
``GET /health`` answers ``{"status": "ok"}``. It binds to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clearance.audit._connect import connect
from clearance.audit._errors import AuditQueryError, AuditStoreError
from clearance.audit._lock import StoreLock
from clearance.audit._readonly import QueryResult, run_read_only

__all__ = ["MAX_QUERY_BYTES", "QueryEndpoint"]

logger = logging.getLogger(__name__)

#: Largest SQL text the endpoint reads.
MAX_QUERY_BYTES = 1 << 20


class QueryEndpoint:
    """Serve read-only queries on the audit store over HTTP from a daemon thread.

    Parameters
    ----------
    dsn
        The store's DSN; each request opens its own ``readonly=1`` client on it (cheap once
        this process hosts the chDB engine) and closes it afterwards.
    host, port
        Where to listen; port 0 picks a free port.
    lock
        The store lock of this process; the endpoint's URL is written into it so that
        :func:`query` in other processes finds it.
    max_result_rows, max_execution_time_s
        Limits of each query; past them ClickHouse stops it with an error.
    """

    def __init__(
        self,
        dsn: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lock: StoreLock | None = None,
        max_result_rows: int = 100_000,
        max_execution_time_s: int = 60,
    ) -> None:
        self.dsn = dsn
        self.host = host
        self.port = port
        self.lock = lock
        self.limits: dict[str, Any] = {
            "max_execution_time": max_execution_time_s,
            "max_result_rows": max_result_rows,
            "result_overflow_mode": "throw",
        }
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` once started."""
        if self._server is None:
            raise RuntimeError("the query endpoint is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        """Start serving in a daemon thread and return the URL."""
        if self._server is not None:
            return self.url
        handler = _handler_for(self)
        server = ThreadingHTTPServer((self.host, self.port), handler)
        server.daemon_threads = True
        self._server = server
        # a short poll interval so that stop() returns promptly
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="clearance-audit-query", daemon=True
        )
        self._thread.start()
        if self.lock is not None:
            self.lock.set_endpoint(self.url)
        logger.info("audit query endpoint listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving and clear the URL from the lock; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        if self.lock is not None and self.lock.held:
            self.lock.set_endpoint(None)
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> QueryEndpoint:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def answer(self, sql: str, fmt: str) -> QueryResult | bytes:
        """Run one query as a request would; raises :class:`AuditQueryError`."""
        try:
            client = connect(self.dsn, read_only=True, settings=self.limits)
        except AuditStoreError as exc:
            raise AuditQueryError(str(exc)) from None
        try:
            return run_read_only(client, sql, fmt=fmt)
        finally:
            client.close()


def _handler_for(endpoint: QueryEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "clearance-audit"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("audit query endpoint: " + format, *args)

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_json(self, status: HTTPStatus, data: dict[str, Any]) -> None:
            body = json.dumps(data, ensure_ascii=False).encode()
            self._send(status, body, "application/json; charset=utf-8")

        def do_GET(self) -> None:
            if urlsplit(self.path).path != "/health":
                self._send_json(HTTPStatus.NOT_FOUND, {"error": "use POST /query or GET /health"})
                return
            self._send_json(
                HTTPStatus.OK, {"status": "ok", "pid": os.getpid(), "dsn": endpoint.dsn}
            )

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/query":
                self._send_json(HTTPStatus.NOT_FOUND, {"error": "use POST /query or GET /health"})
                return
            fmt = parse_qs(parts.query).get("format", ["json"])[0]
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length <= 0 or length > MAX_QUERY_BYTES:
                self._send_json(
                    HTTPStatus.BAD_REQUEST,
                    {"error": f"send the SQL text as the body (1 to {MAX_QUERY_BYTES} bytes)"},
                )
                return
            sql = self.rfile.read(length).decode("utf-8", "replace")
            try:
                result = endpoint.answer(sql, fmt)
            except AuditQueryError as exc:
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            except Exception as exc:
                logger.exception("audit query endpoint failed on %r", sql[:200])
                self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)})
                return
            if isinstance(result, QueryResult):
                self._send_json(HTTPStatus.OK, result.to_dict())
            else:
                self._send(HTTPStatus.OK, result, "text/tab-separated-values; charset=utf-8")

    return Handler
