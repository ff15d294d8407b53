"""A process the benchmark starts (worker, ceiling loop, naive Faust app) and always stops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ._errors import BenchError

__all__ = ["ChildProcess", "child_env"]

_TAIL_LINES = 25


def child_env(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without its ``CLEARANCE_*`` variables, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    env.update(settings)
    return env


class ChildProcess:
    """``python -m <module> <args>`` with its output in ``log_path``.

    Parameters
    ----------
    name
        What it is, for messages (``worker``, ``ceiling``, ...).
    module, args
        What ``python -m`` runs.
    env
        Its whole environment.
    log_path
        Receives stdout and stderr.
    """

    def __init__(
        self, name: str, module: str, args: list[str], env: dict[str, str], log_path: Path
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no output)"
        return "\n".join(lines[-_TAIL_LINES:])

    def check_alive(self, doing: str) -> None:
        """Raise if the process has exited, with the end of its log."""
        if not self.alive():
            raise BenchError(
                f"the {self.name} (pid {self.pid}) exited with code {self.process.returncode} "
                f"while {doing}; last lines of {self.log_path}:\n{self.log_tail()}"
            )

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
