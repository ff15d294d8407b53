"""The audit store: every decision and dead letter, recorded in ClickHouse (chDB or a server).

This package is the only code that knows ClickHouse. It opens the store from a DSN
(:func:`connect`), keeps its schema current (:func:`migrate`), turns decoded records into rows
(:func:`decision_row`, :func:`dead_letter_row`), writes them idempotently
(:class:`AuditWriter`), runs the Kafka-to-store loop (:class:`AuditSink`), guards the
one-process-per-store rule of chDB (:func:`acquire_store_lock`), and serves and runs
read-only queries (:class:`QueryEndpoint`, :func:`query`). :func:`open_audit_store` does
the lock, client, schema and endpoint in one call for a long-running process.
"""

from clearance.audit._batch import AuditBatch, Decoder, build_batch
from clearance.audit._checks import (
    count_dead_letters,
    count_decisions,
    decision_counts_by_effect,
    duplicate_decision_ids,
)
from clearance.audit._connect import DSN_SETTING, connect, embedded_store_path, redact_dsn
from clearance.audit._drill import StoreDrill
from clearance.audit._endpoint import QueryEndpoint
from clearance.audit._errors import AuditQueryError, AuditSinkError, AuditStoreError
from clearance.audit._lock import (
    StoreHolder,
    StoreLock,
    acquire_store_lock,
    lock_file_path,
    store_holder,
)
from clearance.audit._policy_diff import PolicyDiff, policy_diff
from clearance.audit._query import query
from clearance.audit._readonly import QueryResult, check_read_only, run_read_only
from clearance.audit._rows import (
    APPROVAL_COLUMNS,
    DEAD_LETTER_COLUMNS,
    DECISION_COLUMNS,
    approval_row,
    dead_letter_id,
    dead_letter_row,
    decision_row,
    undecodable_letter,
)
from clearance.audit._schema import (
    APPROVALS_TABLE,
    DATABASE,
    DEAD_LETTERS_TABLE,
    DECISIONS_FINAL_VIEW,
    DECISIONS_TABLE,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    Migration,
    applied_versions,
    migrate,
)
from clearance.audit._store import AuditStore, open_audit_store
from clearance.audit._writer import AuditWriter
from clearance.audit.history import action_history
from clearance.audit.sink import AuditSink, SinkStatus

__all__ = [
    "APPROVALS_TABLE",
    "APPROVAL_COLUMNS",
    "DATABASE",
    "DEAD_LETTERS_TABLE",
    "DEAD_LETTER_COLUMNS",
    "DECISIONS_FINAL_VIEW",
    "DECISIONS_TABLE",
    "DECISION_COLUMNS",
    "DSN_SETTING",
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "AuditBatch",
    "AuditQueryError",
    "AuditSink",
    "AuditSinkError",
    "AuditStore",
    "AuditStoreError",
    "AuditWriter",
    "Decoder",
    "Migration",
    "PolicyDiff",
    "QueryEndpoint",
    "QueryResult",
    "SinkStatus",
    "StoreDrill",
    "StoreHolder",
    "StoreLock",
    "acquire_store_lock",
    "action_history",
    "applied_versions",
    "approval_row",
    "build_batch",
    "check_read_only",
    "connect",
    "count_dead_letters",
    "count_decisions",
    "dead_letter_id",
    "dead_letter_row",
    "decision_counts_by_effect",
    "decision_row",
    "duplicate_decision_ids",
    "embedded_store_path",
    "lock_file_path",
    "migrate",
    "open_audit_store",
    "policy_diff",
    "query",
    "redact_dsn",
    "run_read_only",
    "store_holder",
    "undecodable_letter",
]
