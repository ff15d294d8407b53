"""connect(), embedded_store_path() and redact_dsn(): the DSN forms and what a bad one says."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearance.audit import AuditStoreError, connect, embedded_store_path, redact_dsn


def test_store_path_of_an_embedded_dsn_is_its_absolute_directory() -> None:
    assert embedded_store_path("chdb:///var/lib/clearance/audit") == Path(
        "/var/lib/clearance/audit"
    )


@pytest.mark.parametrize(
    "dsn",
    ["http://default:secret@localhost:8123", "https://u:p@ch.example.org:8443", "http://h"],
)
def test_store_path_of_a_server_dsn_is_none(dsn: str) -> None:
    assert embedded_store_path(dsn) is None


@pytest.mark.parametrize(
    ("dsn", "problem"),
    [
        ("chdb://relative/path", "three slashes"),
        ("chdb://", "absolute directory"),
        ("chdb:///", "absolute directory"),
        ("chdb:///data?x=1", "no query string"),
        ("postgres://u:p@h/db", "scheme 'postgres'"),
        ("/just/a/path", "scheme ''"),
        ("http://", "no host"),
        ("http://h:notaport", "Port could not be cast"),
    ],
)
def test_a_bad_dsn_names_the_setting_and_the_accepted_forms(dsn: str, problem: str) -> None:
    with pytest.raises(AuditStoreError) as caught:
        embedded_store_path(dsn)
    message = str(caught.value)
    assert message.startswith("CLEARANCE_CLICKHOUSE_DSN=")
    assert problem in message
    assert "chdb:///absolute/path/to/store" in message
    assert "http://user:password@host:8123" in message


def test_a_bad_dsn_message_hides_the_password() -> None:
    with pytest.raises(AuditStoreError) as caught:
        embedded_store_path("ftp://admin:hunter2@host")
    assert "hunter2" not in str(caught.value)
    assert "admin:***@host" in str(caught.value)


def test_redact_dsn_keeps_everything_but_the_password() -> None:
    assert redact_dsn("https://u:p4ss@host:8443/db") == "https://u:***@host:8443/db"
    assert redact_dsn("chdb:///data/audit") == "chdb:///data/audit"


def test_connect_creates_the_embedded_store_and_answers(tmp_path: Path) -> None:
    store = tmp_path / "nested" / "store"
    client = connect(f"chdb://{store}")
    try:
        assert client.query("SELECT 40 + 2").result_rows == [(42,)]
        assert store.is_dir()
    finally:
        client.close()


def test_a_read_only_client_is_refused_writes_by_the_engine(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'store'}"
    writer = connect(dsn)
    reader = connect(dsn, read_only=True)
    try:
        writer.command("CREATE TABLE default.t (x Int8) ENGINE = MergeTree ORDER BY x")
        with pytest.raises(Exception, match="readonly mode"):
            reader.command("INSERT INTO default.t VALUES (1)")
        assert reader.query("SELECT count() FROM default.t").result_rows == [(0,)]
    finally:
        reader.close()
        writer.close()


def test_a_second_store_path_in_one_process_is_refused_clearly(tmp_path: Path) -> None:
    first = connect(f"chdb://{tmp_path / 'one'}")
    try:
        with pytest.raises(AuditStoreError, match="one store per process"):
            connect(f"chdb://{tmp_path / 'two'}")
    finally:
        first.close()
    # once every client of the first store is closed, another path can be opened
    second = connect(f"chdb://{tmp_path / 'two'}")
    second.close()


def test_an_unreachable_server_is_a_transient_store_error() -> None:
    with pytest.raises(AuditStoreError) as caught:
        connect("http://default:pw@127.0.0.1:1")
    assert caught.value.transient
    assert "cannot reach the audit store at http://default:***@127.0.0.1:1" in str(caught.value)
