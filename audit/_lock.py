"""One process at a time holds the embedded audit store; the others learn who and how to query.

chDB admits one process per store directory and says only "Error initializing
EmbeddedServer" to the second. The store lock (``fcntl.flock`` on ``<store>.lock``) is taken
before the store is opened, so a second process fails at once with the holder's pid, command
and query endpoint. The kernel drops the lock when the holder dies, so a stale file never
blocks anyone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from clearance.audit._connect import DSN_SETTING
from clearance.audit._errors import AuditStoreError

__all__ = ["StoreHolder", "StoreLock", "acquire_store_lock", "lock_file_path", "store_holder"]

# The holder writes its details right after taking the lock; a reader arriving in between
# sees an empty file, so it retries this long before reporting an unknown holder.
_HOLDER_READ_WAIT_S = 1.0


def lock_file_path(store: str | os.PathLike[str]) -> Path:
    """Return ``<store>.lock`` for the store directory (symlinks and ``..`` resolved)."""
    return Path(os.path.realpath(store) + ".lock")


@dataclass(frozen=True)
class StoreHolder:
    """The process holding an embedded store, as written in its lock file."""

    pid: int | None
    command: str
    endpoint: str | None

    def describe(self) -> str:
        """Return ``pid N (command)`` for messages."""
        pid = "unknown" if self.pid is None else str(self.pid)
        return f"pid {pid} ({self.command or 'command unknown'})"


def _parse_holder(text: str) -> StoreHolder | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    endpoint = data.get("endpoint")
    return StoreHolder(
        pid=pid if isinstance(pid, int) else None,
        command=str(data.get("command") or ""),
        endpoint=endpoint if isinstance(endpoint, str) and endpoint else None,
    )


def _read_holder(fd: int, wait_s: float) -> StoreHolder:
    deadline = time.monotonic() + wait_s
    while True:
        raw = os.pread(fd, 65536, 0).decode("utf-8", "replace")
        holder = _parse_holder(raw)
        if holder is not None or time.monotonic() >= deadline:
            return holder or StoreHolder(pid=None, command="", endpoint=None)
        time.sleep(0.02)


def store_holder(
    store: str | os.PathLike[str], *, wait_s: float = _HOLDER_READ_WAIT_S
) -> StoreHolder | None:
    """Return the live holder of an embedded store, or None when nobody holds it.

    Parameters
    ----------
    store
        The store directory.
    wait_s
        How long to wait for a holder that has just taken the lock to write its details.
    """
    path = lock_file_path(store)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd, wait_s)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class StoreLock:
    """The exclusive hold of one embedded store by this process; release it or use ``with``."""

    def __init__(self, store: Path, lock_path: Path, fd: int, command: str) -> None:
        self.store = store
        self.lock_path = lock_path
        self.command = command
        self.endpoint: str | None = None
        self._fd: int | None = fd
        self._write()

    @property
    def held(self) -> bool:
        """True until :meth:`release`."""
        return self._fd is not None

    def set_endpoint(self, url: str | None) -> None:
        """Record the read-only query endpoint other processes should use."""
        self.endpoint = url
        self._write()

    def _write(self) -> None:
        if self._fd is None:
            return
        body = json.dumps(
            {"pid": os.getpid(), "command": self.command, "endpoint": self.endpoint},
            ensure_ascii=False,
        ).encode()
        # rewrite in place: replacing the file would move readers to an unlocked inode
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, body + b"\n", 0)

    def release(self) -> None:
        """Give up the store; idempotent. The lock file stays (deleting it would race)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"StoreLock({str(self.store)!r}, {state}, endpoint={self.endpoint!r})"


def acquire_store_lock(store: str | os.PathLike[str], *, command: str | None = None) -> StoreLock:
    """Take the exclusive hold of an embedded store, or fail at once naming the holder.

    Parameters
    ----------
    store
        The store directory (the lock is ``<store>.lock`` beside it; parents are created).
    command
        What this process is, for the message another process gets; the command line when
        None.

    Returns
    -------
    StoreLock
        Held until released or until this process exits.

    Raises
    ------
    AuditStoreError
        When another process (or another hold in this process) has the store.
    """
    lock_path = lock_file_path(store)
    real_store = Path(os.path.realpath(store))
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise AuditStoreError(
            f"cannot create the audit store lock {lock_path}: {exc.strerror}. "
            f"Fix: choose a writable directory in {DSN_SETTING}"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd, _HOLDER_READ_WAIT_S)
        os.close(fd)
        raise AuditStoreError(
            f"the embedded audit store at {real_store} is held by {holder.describe()}; "
            "run this worker with --no-audit-sink, or stop that process, or set "
            f"{DSN_SETTING} to a ClickHouse server"
        ) from None
    return StoreLock(real_store, lock_path, fd, command or shlex.join(sys.argv))
