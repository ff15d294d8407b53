"""Operating-system facts about processes and ports, for managing a detached broker."""

from __future__ import annotations

import os
import socket
import subprocess
from contextlib import suppress
from pathlib import Path

__all__ = ["bind_problem", "command_line", "has_exited", "reap"]


def command_line(pid: int) -> str | None:
    """Return the command line of process ``pid`` with arguments joined by spaces.

    Returns None if no such process exists or it has exited (a zombie counts as exited).
    """
    proc = Path("/proc")
    if proc.is_dir():
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None
        # A zombie's command line is empty.
        return raw.replace(b"\0", b" ").decode(errors="replace").strip() or None
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None


def reap(pid: int) -> None:
    """Collect the exit status of ``pid`` if it is an exited child of this process.

    An exited child stays a zombie, and looks alive, until its parent waits for it.
    """
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def has_exited(pid: int) -> bool:
    """Tell whether process ``pid`` has finished exiting, so its ports and files are released.

    A process whose command line has gone may still be closing its sockets; one that is gone,
    or is a zombie with no thread left, has closed them.
    """
    reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    # A zombie whose parent does not wait for it (e.g. an init that never reaps) stays listed.
    return _is_finished_zombie(pid)


def _is_finished_zombie(pid: int) -> bool:
    if Path("/proc").is_dir():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return True
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        state = fields.get("State", "").strip()[:1]
        # When a JVM's main thread has exited the process shows as a zombie while its other
        # threads are still being torn down and still hold its sockets.
        return state in ("Z", "X") and fields.get("Threads", "").strip() in ("", "0", "1")
    result = subprocess.run(
        ["ps", "-o", "state=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.strip()[:1] in ("", "Z")


def bind_problem(host: str, port: int) -> str | None:
    """Return why a TCP server could not listen on ``host:port``, or None if it could."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        # Kafka binds with SO_REUSEADDR too: a stopped broker's TIME_WAIT sockets are no conflict.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None
