"""Write decision and dead-letter rows to the audit store, idempotently per batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import (
    DatabaseError,
    DataError,
    InterfaceError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)

from clearance.audit._drill import StoreDrill
from clearance.audit._errors import AuditStoreError
from clearance.audit._rows import (
    APPROVAL_COLUMNS,
    DEAD_LETTER_COLUMNS,
    DECISION_COLUMNS,
    POLICY_COLUMNS,
)
from clearance.audit._schema import (
    APPROVALS_TABLE,
    DEAD_LETTERS_TABLE,
    DECISIONS_TABLE,
    POLICIES_TABLE,
    SHADOW_DECISIONS_TABLE,
)

__all__ = ["FATAL_ERROR_CODES", "AuditWriter", "store_error"]

#: ClickHouse error codes that retrying the same insert cannot cure: the schema, the
#: permissions or the rows themselves are wrong. Any other server error counts as transient.
FATAL_ERROR_CODES = frozenset(
    {
        8,  # THERE_IS_NO_COLUMN
        16,  # NO_SUCH_COLUMN_IN_TABLE
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        36,  # BAD_ARGUMENTS
        47,  # UNKNOWN_IDENTIFIER
        53,  # TYPE_MISMATCH
        60,  # UNKNOWN_TABLE
        62,  # SYNTAX_ERROR
        81,  # UNKNOWN_DATABASE
        164,  # READONLY
        192,  # UNKNOWN_USER
        193,  # WRONG_PASSWORD
        194,  # REQUIRED_PASSWORD
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
    }
)


def store_error(exc: BaseException, action: str) -> AuditStoreError:
    """Wrap a clickhouse-connect, chDB or serialization failure in an :class:`AuditStoreError`.

    Parameters
    ----------
    exc
        The failure.
    action
        What was attempted, e.g. ``"insert 5000 rows into clearance.decisions"``.

    Returns
    -------
    AuditStoreError
        ``transient`` is True for network failures, local I/O failures and server errors
        outside :data:`FATAL_ERROR_CODES`.
    """
    code = getattr(exc, "code", None)
    if isinstance(exc, ProgrammingError | DataError | NotSupportedError | InterfaceError):
        # the client-side checks: the rows, their shape or the client itself are wrong
        transient = False
    elif isinstance(exc, OperationalError | OSError):
        transient = True
    elif isinstance(exc, DatabaseError):
        transient = code not in FATAL_ERROR_CODES
    else:
        # TypeError, ValueError, ... from serializing the rows
        transient = False
    if transient:
        fix = "the store is unavailable or busy; the write is retried"
    else:
        fix = (
            "retrying cannot help: run migrate() on the store, check the ClickHouse user's "
            "grants, or report the rows' shape as a bug"
        )
    return AuditStoreError(f"could not {action}: {exc}. {fix}", transient=transient, code=code)


class AuditWriter:
    """Insert rows into ``clearance.decisions`` and ``clearance.dead_letters``.

    Parameters
    ----------
    client
        A writable clickhouse-connect client on a migrated store.
    batch_max_rows
        Largest insert; longer row lists are split into several inserts.
    drill
        A fault drill applied around every insert (outage and slow-store tests); None: none.
    """

    def __init__(
        self, client: Client, batch_max_rows: int = 5000, drill: StoreDrill | None = None
    ) -> None:
        if batch_max_rows < 1:
            raise ValueError("batch_max_rows must be at least 1")
        self.client = client
        self.batch_max_rows = batch_max_rows
        self.drill = drill

    def write_decisions(self, rows: Sequence[tuple[Any, ...]], dedup_token: str) -> int:
        """Insert decision rows (from :func:`decision_row`); a replay of the same token is dropped.

        Parameters
        ----------
        rows
            Rows in :data:`DECISION_COLUMNS` order.
        dedup_token
            Names this exact batch (e.g. its topic/partition/offset ranges). ClickHouse
            drops an insert whose token it saw among the table's recent inserts, so retrying
            a batch whose first attempt did land adds nothing.

        Returns
        -------
        int
            The number of rows sent.

        Raises
        ------
        AuditStoreError
            When the store refuses or fails the insert; ``transient`` says whether to retry.
        """
        return self._write(DECISIONS_TABLE, DECISION_COLUMNS, rows, dedup_token)

    def write_dead_letters(self, rows: Sequence[tuple[Any, ...]], dedup_token: str) -> int:
        """Insert dead-letter rows (from :func:`dead_letter_row`); see :meth:`write_decisions`."""
        return self._write(DEAD_LETTERS_TABLE, DEAD_LETTER_COLUMNS, rows, dedup_token)

    def write_approvals(self, rows: Sequence[tuple[Any, ...]], dedup_token: str) -> int:
        """Insert approval-outcome rows (from :func:`approval_row`); see :meth:`write_decisions`."""
        return self._write(APPROVALS_TABLE, APPROVAL_COLUMNS, rows, dedup_token)

    def write_shadow_decisions(self, rows: Sequence[tuple[Any, ...]], dedup_token: str) -> int:
        """Insert shadow decision rows (same columns as decisions); see :meth:`write_decisions`."""
        return self._write(SHADOW_DECISIONS_TABLE, DECISION_COLUMNS, rows, dedup_token)

    def write_policies(self, rows: Sequence[tuple[Any, ...]], dedup_token: str) -> int:
        """Insert policy release rows (from :func:`policy_row`); see :meth:`write_decisions`."""
        return self._write(POLICIES_TABLE, POLICY_COLUMNS, rows, dedup_token)

    def _write(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        dedup_token: str,
    ) -> int:
        if not rows:
            return 0
        if not dedup_token:
            raise ValueError("dedup_token must name the batch")
        step = self.batch_max_rows
        chunks = [rows[i : i + step] for i in range(0, len(rows), step)]
        for number, chunk in enumerate(chunks):
            token = dedup_token if len(chunks) == 1 else f"{dedup_token}#{number}"
            try:
                mode = self.drill.before_insert(table) if self.drill is not None else ""
                self.client.insert(
                    table,
                    chunk,
                    column_names=list(columns),
                    settings={"insert_deduplication_token": token},
                )
                if self.drill is not None:
                    self.drill.after_insert(table, mode)
            except Exception as exc:
                raise store_error(exc, f"insert {len(chunk)} rows into {table}") from exc
        return len(rows)
