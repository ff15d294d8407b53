"""Errors of the audit library: the store (ClickHouse or chDB) and the Kafka sink."""

from __future__ import annotations

from clearance.errors import ClearanceError

__all__ = ["AuditQueryError", "AuditSinkError", "AuditStoreError"]


class AuditStoreError(ClearanceError):
    """The audit store (ClickHouse server or embedded chDB) refused or failed an operation.

    Parameters
    ----------
    message
        What went wrong and how to fix it.
    transient
        True when retrying the same operation later can succeed (network down, server busy);
        False when it cannot (missing table, wrong type, permission denied, bad DSN).
    code
        ClickHouse's numeric error code when known.
    """

    def __init__(self, message: str, *, transient: bool = False, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


class AuditSinkError(ClearanceError):
    """The audit sink cannot go on (a fatal Kafka error or a fatal store error)."""


class AuditQueryError(ClearanceError):
    """A query on the audit store was refused (not read-only) or failed (ClickHouse's message)."""
