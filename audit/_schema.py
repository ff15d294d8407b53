"""The audit store's schema: database ``clearance``, its tables, and idempotent migrations.

Every statement is written to be harmless when run again (``IF NOT EXISTS``), so
:func:`migrate` is safe at every start, from several processes at once against a server.
The ``schema_migrations`` table records which versions were applied and when.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from clearance.audit._errors import AuditStoreError

__all__ = [
    "APPROVALS_TABLE",
    "DATABASE",
    "DEAD_LETTERS_TABLE",
    "DECISIONS_FINAL_VIEW",
    "DECISIONS_TABLE",
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "POLICIES_TABLE",
    "SHADOW_DECISIONS_TABLE",
    "Migration",
    "applied_versions",
    "migrate",
]

logger = logging.getLogger(__name__)

DATABASE = "clearance"
DECISIONS_TABLE = f"{DATABASE}.decisions"
DECISIONS_FINAL_VIEW = f"{DATABASE}.decisions_final"
DEAD_LETTERS_TABLE = f"{DATABASE}.dead_letters"
APPROVALS_TABLE = f"{DATABASE}.approvals"
POLICIES_TABLE = f"{DATABASE}.policies"
SHADOW_DECISIONS_TABLE = f"{DATABASE}.shadow_decisions"
MIGRATIONS_TABLE = f"{DATABASE}.schema_migrations"

# Insert-time deduplication keeps the hashes (or tokens) of the last N inserted blocks per
# table; a replayed batch whose token is among them is dropped. 10,000 batches of up to
# 5,000 rows cover far more than any redelivery window of the sink.
_DEDUP_WINDOW = 10_000


@dataclass(frozen=True)
class Migration:
    """One numbered step of the schema; its statements must each be idempotent."""

    version: int
    description: str
    statements: tuple[str, ...]


_DECISIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {DECISIONS_TABLE}
(
    decision_id       String,
    event_id          String,
    event_kind        LowCardinality(String),
    decided_at        DateTime64(3, 'UTC'),
    occurred_at       DateTime64(3, 'UTC'),
    principal_id      String,
    principal_type    LowCardinality(String),
    principal_roles   Array(String),
    on_behalf_of      Nullable(String),
    action            LowCardinality(String),
    resource_type     LowCardinality(String),
    resource_id       String,
    environment       LowCardinality(String),
    sensitivity       LowCardinality(String),
    session_id        Nullable(String),
    effect            LowCardinality(String),
    rule_ids          Array(String),
    reasons           Array(String),
    severity          LowCardinality(String),
    policy_version    LowCardinality(String),
    detector_scores   Map(String, Float64),
    explanations      Array(String),
    escalation_id     Nullable(String),
    approvers         Array(String),
    grant_id          Nullable(String),
    grant_expires_at  Nullable(DateTime64(3, 'UTC')),
    latency_ms        Float64,
    source_topic      LowCardinality(String),
    source_partition  Int32,
    source_offset     Int64,
    decision_partition Int32,
    decision_offset   Int64,
    recorded_at       DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_decided_at decided_at TYPE minmax GRANULARITY 1,
    INDEX idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_decision_id decision_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_effect effect TYPE set(8) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(decided_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (principal_id, occurred_at, decision_id)
SETTINGS non_replicated_deduplication_window = {_DEDUP_WINDOW}
"""
# Why this key: ReplacingMergeTree collapses rows with equal sorting keys within one
# partition, so the partition and sorting keys may only use values that a redelivered
# decision repeats. principal_id and occurred_at come from the event the decision_id is
# derived from; decided_at does not (a redelivered event is decided again, possibly after
# midnight or the month's end), so it is the version column (the latest decision wins) and
# a minmax index, never part of a key.

_DECISIONS_FINAL_DDL = f"""
CREATE VIEW IF NOT EXISTS {DECISIONS_FINAL_VIEW} AS
SELECT * FROM {DECISIONS_TABLE} FINAL
"""

_DEAD_LETTERS_DDL = f"""
CREATE TABLE IF NOT EXISTS {DEAD_LETTERS_TABLE}
(
    dead_letter_id    String,
    failed_at         DateTime64(3, 'UTC'),
    reason_code       LowCardinality(String),
    reason            String,
    source_topic      LowCardinality(String),
    source_partition  Int32,
    source_offset     Int64,
    key               String,
    value             String,
    value_size        Int64,
    letter_topic      LowCardinality(String),
    letter_partition  Int32,
    letter_offset     Int64,
    recorded_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(failed_at)
ORDER BY (source_topic, source_partition, source_offset, dead_letter_id)
SETTINGS non_replicated_deduplication_window = {_DEDUP_WINDOW}
"""
# Dead letters are few, so one partition: a message dead-lettered twice (two failed_at
# values, perhaps months apart) still collapses to one row, the latest failure. The
# letter_* columns say where the sink read the letter (the dead-letter topic, or the
# decisions topic for a decision message the sink itself could not decode).

_APPROVALS_DDL = f"""
CREATE TABLE IF NOT EXISTS {APPROVALS_TABLE}
(
    outcome_id            String,
    recorded_at           DateTime64(3, 'UTC'),
    kind                  LowCardinality(String),
    approval_id           String,
    escalation_id         String,
    principal_id          String,
    verdict               LowCardinality(String),
    approver_id           String,
    approver_type         LowCardinality(String),
    approver_roles        Array(String),
    approver_on_behalf_of Nullable(String),
    reviewer_reason       String,
    accepted              Bool,
    reason_code           LowCardinality(String),
    reason                String,
    status                Nullable(String),
    decided               Bool,
    approvers             Array(String),
    deniers               Array(String),
    signer                Nullable(String),
    purpose               Nullable(String),
    event_id              Nullable(String),
    action                Nullable(String),
    resource_id           Nullable(String),
    rule_ids              Array(String),
    policy_version        String,
    decision_id           Nullable(String),
    grant_id              Nullable(String),
    grant_expires_at      Nullable(DateTime64(3, 'UTC')),
    source_topic          LowCardinality(String),
    source_partition      Int32,
    source_offset         Int64,
    outcome_partition     Int32,
    outcome_offset        Int64,
    stored_at             DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_recorded_at recorded_at TYPE minmax GRANULARITY 1,
    INDEX idx_decision_id decision_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (escalation_id, outcome_id)
SETTINGS non_replicated_deduplication_window = {_DEDUP_WINDOW}
"""
# Every reviewer verdict (counted or rejected, with its reason) and every timeout. The
# outcome id comes from the approval message's coordinates, so a redelivered message
# collapses into its row while a replayed verdict (a new message) keeps a row of its own.

_POLICIES_DDL = f"""
CREATE TABLE IF NOT EXISTS {POLICIES_TABLE}
(
    release_id        String,
    slot              LowCardinality(String),
    version           String,
    pack_name         String,
    pushed_by         String,
    pushed_at         DateTime64(3, 'UTC'),
    files             Map(String, String),
    tests_passed      Int32,
    lint_warnings     Array(String),
    release_partition Int32,
    release_offset    Int64,
    recorded_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(pushed_at)
ORDER BY (version, release_id)
SETTINGS non_replicated_deduplication_window = {_DEDUP_WINDOW}
"""
# Every push of a pack (clearance.policies is compacted, so Kafka keeps only the latest of
# each slot): its full content, who pushed it and when, active or shadow.

_SHADOW_DECISIONS_DDL = _DECISIONS_DDL.replace(DECISIONS_TABLE, SHADOW_DECISIONS_TABLE, 1)
# What a candidate pack would have decided, beside the enforced decision of the same
# event_id in clearance.decisions; `clearance policy diff` compares the two.

_MIGRATIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE}
(
    version     UInt32,
    description String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
"""

#: Every schema step, oldest first. Add new steps at the end with the next version number.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "decisions, decisions_final and dead_letters",
        (_DECISIONS_DDL, _DECISIONS_FINAL_DDL, _DEAD_LETTERS_DDL),
    ),
    Migration(2, "approvals: every verdict and timeout with its reason", (_APPROVALS_DDL,)),
    Migration(
        3,
        "policies (every pushed pack) and shadow_decisions",
        (_POLICIES_DDL, _SHADOW_DECISIONS_DDL),
    ),
)


def _run(client: Client, sql: str, what: str) -> None:
    try:
        client.command(sql)
    except ClickHouseError as exc:
        raise AuditStoreError(
            f"audit store migration failed while {what}: {exc}. Fix: check that the ClickHouse "
            "user may create databases and tables in 'clearance'",
            code=getattr(exc, "code", None),
        ) from exc


def applied_versions(client: Client) -> set[int]:
    """Return the schema versions recorded in ``clearance.schema_migrations``.

    Parameters
    ----------
    client
        A client on the audit store; the database must exist.
    """
    try:
        result = client.query(f"SELECT DISTINCT version FROM {MIGRATIONS_TABLE}")
    except ClickHouseError as exc:
        raise AuditStoreError(f"cannot read {MIGRATIONS_TABLE}: {exc}") from exc
    return {int(row[0]) for row in result.result_rows}


def migrate(client: Client) -> list[int]:
    """Create or bring up to date the audit schema; safe to run at every start.

    Parameters
    ----------
    client
        A writable client on the audit store.

    Returns
    -------
    list of int
        The versions applied by this call (empty when the schema was already current).

    Raises
    ------
    AuditStoreError
        When a statement fails; the message names the step.
    """
    _run(client, f"CREATE DATABASE IF NOT EXISTS {DATABASE}", f"creating database {DATABASE}")
    _run(client, _MIGRATIONS_DDL, f"creating {MIGRATIONS_TABLE}")
    done = applied_versions(client)
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for sql in migration.statements:
            _run(client, sql, f"applying version {migration.version} ({migration.description})")
        try:
            client.insert(
                MIGRATIONS_TABLE,
                [(migration.version, migration.description)],
                column_names=["version", "description"],
            )
        except ClickHouseError as exc:
            raise AuditStoreError(
                f"cannot record version {migration.version} in {MIGRATIONS_TABLE}: {exc}"
            ) from exc
        logger.info("audit store: applied schema version %d", migration.version)
        applied.append(migration.version)
    return applied
