"""Shared fixtures: one real Kafka broker per test session, started by Clearance's own code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _ports import free_port

from clearance.localkafka import LocalKafka


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A single-node Apache Kafka on a free port, for the whole test session."""
    broker = LocalKafka(data_dir=tmp_path_factory.mktemp("kafka"), port=free_port())
    broker.up(timeout=180)
    yield broker
    broker.down()


class WorkerProcess:
    """A `clearance` command running as a child process with its own settings."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "clearance.cli", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@pytest.fixture
def clearance_env(kafka: LocalKafka, tmp_path: Path) -> dict[str, str]:
    """Settings for one test: its own topics, consumer groups, data dir and web port."""
    run = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    env.update(
        {
            "CLEARANCE_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "CLEARANCE_DATA_DIR": str(tmp_path / "data"),
            "CLEARANCE_TOPIC_PREFIX": f"t{run}.",
            "CLEARANCE_APP_ID": f"clearance-{run}",
            "CLEARANCE_AUDIT_GROUP": f"audit-{run}",
            "CLEARANCE_WEB_PORT": str(free_port()),
            "CLEARANCE_TOPIC_PARTITIONS": "2",
        }
    )
    return env


@pytest.fixture
def start_clearance(tmp_path: Path) -> Iterator[object]:
    """Start `clearance ARGS...` child processes; all are stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(args: list[str], env: dict[str, str]) -> WorkerProcess:
        proc = WorkerProcess(args, env, tmp_path / f"{args[0]}-{len(started)}.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def _wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def wait_for():  # type: ignore[no-untyped-def]
    """``wait_for(predicate, timeout, what=...)``: poll until truthy, else fail the test."""
    return _wait_for


@pytest.fixture
def new_port():  # type: ignore[no-untyped-def]
    """``new_port()`` -> a free TCP port on 127.0.0.1 (as a string, for settings)."""
    return lambda: str(free_port())
