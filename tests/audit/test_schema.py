"""migrate(): idempotent, and the tables keyed so that redelivered decisions collapse."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from clearance.audit import MIGRATIONS, applied_versions, connect, migrate


def _tables(client: Client) -> dict[str, tuple[str, str, str]]:
    rows = client.query(
        "SELECT name, engine_full, sorting_key, partition_key FROM system.tables "
        "WHERE database = 'clearance'"
    ).result_rows
    return {name: (engine, key, partition) for name, engine, key, partition in rows}


def test_migrate_creates_everything_once_and_then_does_nothing(store_dsn: str) -> None:
    client = connect(store_dsn)
    try:
        assert migrate(client) == [m.version for m in MIGRATIONS]
        tables_after_first = _tables(client)
        assert migrate(client) == []
        assert _tables(client) == tables_after_first
        assert applied_versions(client) == {m.version for m in MIGRATIONS}
        recorded = client.query("SELECT count() FROM clearance.schema_migrations").result_rows
        assert recorded == [(len(MIGRATIONS),)]
    finally:
        client.close()


def test_migrate_survives_a_restart_of_the_store(store_dsn: str) -> None:
    first = connect(store_dsn)
    migrate(first)
    first.close()
    again = connect(store_dsn)
    try:
        assert migrate(again) == []
    finally:
        again.close()


def test_the_tables_and_the_view_exist(client: Client) -> None:
    assert set(_tables(client)) == {
        "decisions",
        "decisions_final",
        "dead_letters",
        "approvals",
        "policies",
        "shadow_decisions",
        "schema_migrations",
    }


def test_the_decisions_key_uses_only_values_a_redelivery_repeats(client: Client) -> None:
    engine, key, partition = _tables(client)["decisions"]
    assert engine.startswith("ReplacingMergeTree(decided_at)")
    assert "non_replicated_deduplication_window" in engine
    assert key == "principal_id, occurred_at, decision_id"
    assert partition == "toYYYYMM(occurred_at)"


def test_the_decisions_columns_have_the_documented_types(client: Client) -> None:
    rows = client.query(
        "SELECT name, type FROM system.columns WHERE database = 'clearance' AND table = 'decisions'"
    ).result_rows
    types = {str(name): str(type_) for name, type_ in rows}
    assert types["decided_at"] == "DateTime64(3, 'UTC')"
    assert types["grant_expires_at"] == "Nullable(DateTime64(3, 'UTC'))"
    assert types["principal_type"] == "LowCardinality(String)"
    assert types["effect"] == "LowCardinality(String)"
    assert types["principal_roles"] == "Array(String)"
    assert types["detector_scores"] == "Map(String, Float64)"
    assert types["on_behalf_of"] == "Nullable(String)"
    assert types["source_partition"] == "Int32"
    assert types["source_offset"] == "Int64"
    assert types["decision_offset"] == "Int64"
