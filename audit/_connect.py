"""Open a clickhouse-connect client on the audit store named by a DSN.

Two forms are accepted: ``chdb:///absolute/path`` for the embedded chDB store (driven by
clickhouse-connect's chdb backend, in this process) and ``http(s)://user:password@host:port``
for a ClickHouse server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from clearance.audit._errors import AuditStoreError

__all__ = [
    "DSN_SETTING",
    "connect",
    "embedded_store_path",
    "redact_dsn",
]

#: The setting the CLI reads the DSN from; named in every DSN error so the user knows what to fix.
DSN_SETTING = "CLEARANCE_CLICKHOUSE_DSN"

_ACCEPTED_FORMS = (
    "use chdb:///absolute/path/to/store for the embedded store, or "
    "http://user:password@host:8123 or https://user:password@host:8443 for a ClickHouse server"
)


def redact_dsn(dsn: str) -> str:
    """Return ``dsn`` with its password replaced by ``***``, for messages and logs.

    Parameters
    ----------
    dsn
        Any DSN; strings that do not parse are returned unchanged.
    """
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return dsn
    if parts.password is None:
        return dsn
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _bad_dsn(dsn: str, problem: str) -> AuditStoreError:
    return AuditStoreError(
        f"{DSN_SETTING}={redact_dsn(dsn)!r} is not an audit store DSN: {problem}. "
        f"Fix: {_ACCEPTED_FORMS}"
    )


def embedded_store_path(dsn: str) -> Path | None:
    """Return the embedded store directory of a ``chdb://`` DSN, or None for a server DSN.

    Parameters
    ----------
    dsn
        ``chdb:///absolute/path`` or ``http(s)://user:password@host:port``.

    Returns
    -------
    Path or None
        The absolute store directory for chDB; None for a ClickHouse server.

    Raises
    ------
    AuditStoreError
        When the DSN has neither form; the message names ``CLEARANCE_CLICKHOUSE_DSN``.
    """
    try:
        parts = urlsplit(dsn.strip())
    except ValueError as exc:
        raise _bad_dsn(dsn, str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme == "chdb":
        if parts.netloc:
            raise _bad_dsn(
                dsn,
                f"'{parts.netloc}' stands where the path should start "
                "(three slashes are needed before an absolute path)",
            )
        if not parts.path.startswith("/") or parts.path == "/":
            raise _bad_dsn(dsn, "the embedded store needs an absolute directory path")
        if parts.query or parts.fragment:
            raise _bad_dsn(dsn, "the embedded store DSN takes no query string or fragment")
        return Path(parts.path)
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise _bad_dsn(dsn, "the server DSN has no host")
        try:
            _ = parts.port  # parsing the port validates it
        except ValueError as exc:
            raise _bad_dsn(dsn, str(exc)) from None
        return None
    raise _bad_dsn(dsn, f"scheme '{parts.scheme}' is not chdb, http or https")


def connect(dsn: str, *, read_only: bool = False, settings: dict[str, Any] | None = None) -> Client:
    """Open a clickhouse-connect client on the audit store.

    Parameters
    ----------
    dsn
        ``chdb:///absolute/path`` (embedded chDB, created when missing) or
        ``http(s)://user:password@host:port`` (a ClickHouse server).
    read_only
        Apply ClickHouse's ``readonly=1`` to the session: every write, DDL, table function
        and settings change is refused by the engine.
    settings
        Extra ClickHouse settings for the session (applied before ``readonly``).

    Returns
    -------
    Client
        A clickhouse-connect client. chDB hosts one store path per process: every client of
        this process must use the same path, and a second process cannot open it at all.

    Raises
    ------
    AuditStoreError
        On a bad DSN, or when the store cannot be opened or reached.
    """
    path = embedded_store_path(dsn)
    session: dict[str, Any] = dict(settings or {})
    if read_only:
        # readonly last: once it is set, the engine refuses any further SET on the session
        session["readonly"] = 1
    if path is None:
        return _connect_server(dsn, session)
    return _connect_embedded(path, session)


def _connect_server(dsn: str, settings: dict[str, Any]) -> Client:
    try:
        return clickhouse_connect.get_client(dsn=dsn.strip(), settings=settings)
    except ClickHouseError as exc:
        raise AuditStoreError(
            f"cannot reach the audit store at {redact_dsn(dsn)}: {exc}. Fix: start the ClickHouse "
            f"server or correct {DSN_SETTING} (host, port, user, password)",
            transient=True,
            code=getattr(exc, "code", None),
        ) from exc


def _connect_embedded(path: Path, settings: dict[str, Any]) -> Client:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditStoreError(
            f"cannot create the embedded audit store directory {path}: {exc.strerror}. "
            f"Fix: choose a writable directory in {DSN_SETTING}"
        ) from exc
    try:
        return clickhouse_connect.get_client(dsn=f"chdb://{path}", settings=settings)
    except ClickHouseError as exc:
        raise _embedded_open_error(path, exc) from exc


def _embedded_open_error(path: Path, exc: Exception) -> AuditStoreError:
    text = str(exc)
    if "already initialized with path" in text:
        other = text.split("already initialized with path", 1)[1].split(",")[0].strip()
        return AuditStoreError(
            f"cannot open the embedded audit store at {path}: this process already hosts another "
            f"chDB store ({other}) and chDB hosts one store per process. Fix: use one store "
            "path per process, or close every client of the other store first"
        )
    if "Error initializing EmbeddedServer" in text:
        # chDB's own lock on <path>/status; its message does not say who holds it
        return AuditStoreError(
            f"cannot open the embedded audit store at {path}: another process has it open "
            "(chDB admits one process per store). Fix: query through that process's endpoint, "
            f"stop it, or set {DSN_SETTING} to a ClickHouse server"
        )
    return AuditStoreError(f"cannot open the embedded audit store at {path}: {text}")
