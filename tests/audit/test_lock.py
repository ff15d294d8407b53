"""The store lock: one holder per embedded store, a clear refusal for everybody else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearance.audit import AuditStoreError, acquire_store_lock, lock_file_path, store_holder

_TRY_TO_ACQUIRE = textwrap.dedent(
    """
    import sys
    from clearance.audit import AuditStoreError, acquire_store_lock
    try:
        acquire_store_lock(sys.argv[1])
    except AuditStoreError as exc:
        print(exc)
        sys.exit(3)
    print("acquired")
    """
)

_HOLD_UNTIL_STDIN_CLOSES = textwrap.dedent(
    """
    import sys
    from clearance.audit import acquire_store_lock
    lock = acquire_store_lock(sys.argv[1], command="holder-under-test")
    lock.set_endpoint("http://127.0.0.1:9")
    print("holding", flush=True)
    sys.stdin.read()
    """
)


def _try_in_another_process(store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _TRY_TO_ACQUIRE, str(store)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def holder_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    store = tmp_path / "store"
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD_UNTIL_STDIN_CLOSES, str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "holding"
            yield process, store
        finally:
            process.kill()


def test_the_lock_file_names_this_process(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with acquire_store_lock(store, command="worker --audit") as lock:
        lock.set_endpoint("http://127.0.0.1:5555")
        written = json.loads(lock_file_path(store).read_text())
        assert written == {
            "pid": os.getpid(),
            "command": "worker --audit",
            "endpoint": "http://127.0.0.1:5555",
        }
        holder = store_holder(store)
        assert holder is not None
        assert (holder.pid, holder.endpoint) == (os.getpid(), "http://127.0.0.1:5555")
    assert store_holder(store) is None


def test_a_second_hold_in_the_same_process_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with acquire_store_lock(store, command="first"), pytest.raises(AuditStoreError) as caught:
        acquire_store_lock(store)
    assert f"is held by pid {os.getpid()} (first)" in str(caught.value)


def test_another_process_is_refused_with_the_holders_pid_and_the_fixes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with acquire_store_lock(store, command="clearance worker"):
        result = _try_in_another_process(store)
    assert result.returncode == 3, result.stderr
    message = result.stdout.strip()
    assert message == (
        f"the embedded audit store at {store.resolve()} is held by pid {os.getpid()} "
        "(clearance worker); run this worker with --no-audit-sink, or stop that process, "
        "or set CLEARANCE_CLICKHOUSE_DSN to a ClickHouse server"
    )


def test_after_release_another_process_may_hold_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    lock = acquire_store_lock(store)
    lock.release()
    lock.release()  # idempotent
    assert not lock.held
    result = _try_in_another_process(store)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "acquired"


def test_a_holder_in_another_process_is_seen_and_refuses_this_one(
    holder_process: tuple[subprocess.Popen[str], Path],
) -> None:
    process, store = holder_process
    holder = store_holder(store)
    assert holder is not None
    assert holder.pid == process.pid
    assert holder.command == "holder-under-test"
    assert holder.endpoint == "http://127.0.0.1:9"
    with pytest.raises(AuditStoreError, match=f"held by pid {process.pid} \\(holder-under-test\\)"):
        acquire_store_lock(store)


def test_the_lock_dies_with_its_holder(holder_process: tuple[subprocess.Popen[str], Path]) -> None:
    process, store = holder_process
    process.kill()
    process.wait(timeout=30)
    # the lock file is still there, but nobody holds it: no stale lock
    assert lock_file_path(store).exists()
    assert store_holder(store) is None
    with acquire_store_lock(store) as lock:
        assert lock.held


def test_the_lock_sits_beside_the_resolved_store(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert lock_file_path(tmp_path / "link" / "store") == tmp_path / "real" / "store.lock"
