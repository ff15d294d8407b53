"""Starting and stopping ``clearance worker`` inside a scenario's space."""

from __future__ import annotations

from dataclasses import dataclass

from ._child import ChildProcess, child_env
from ._errors import BenchError
from ._space import Space, Stage, free_port

__all__ = ["WorkerSettings", "audit_dsn", "start_worker", "stop_child"]


@dataclass(frozen=True)
class WorkerSettings:
    """The worker settings a scenario varies (everything else is Clearance's default)."""

    commit_interval_ms: int = 200
    detectors: str = "access"
    batch_wait_ms: int = 20

    def describe(self) -> str:
        return (
            f"detectors {self.detectors}, commit interval {self.commit_interval_ms} ms, "
            f"batch wait {self.batch_wait_ms} ms"
        )


def _worker_env(stage: Stage, space: Space, worker: WorkerSettings) -> dict[str, str]:
    return child_env(
        {
            "CLEARANCE_KAFKA_BOOTSTRAP": stage.bootstrap,
            "CLEARANCE_DATA_DIR": str(space.dir / "data"),
            "CLEARANCE_TOPIC_PREFIX": space.prefix,
            "CLEARANCE_APP_ID": space.group("worker"),
            "CLEARANCE_AUDIT_GROUP": space.group("audit"),
            "CLEARANCE_WEB_PORT": str(free_port()),
            "CLEARANCE_POLICY_PATH": str(stage.pack),
            "CLEARANCE_TOPIC_PARTITIONS": str(stage.partitions),
            "CLEARANCE_COMMIT_INTERVAL_MS": str(worker.commit_interval_ms),
            "CLEARANCE_BATCH_WAIT_MS": str(worker.batch_wait_ms),
            "CLEARANCE_DETECTORS": worker.detectors,
            "CLEARANCE_LOG_LEVEL": "warn",
        }
    )


def start_worker(stage: Stage, space: Space, worker: WorkerSettings) -> ChildProcess:
    """``clearance worker`` (with its audit sink) on the space's topics, group and store."""
    return ChildProcess(
        "worker",
        "clearance.cli",
        ["worker"],
        _worker_env(stage, space, worker),
        space.dir / "worker.log",
    )


def audit_dsn(space: Space) -> str:
    """The embedded audit store of a worker started by :func:`start_worker`."""
    return f"chdb://{(space.dir / 'data' / 'audit').resolve()}"


def stop_child(child: ChildProcess) -> None:
    """Stop ``child``; raise if it exits other than as SIGTERM asks."""
    code = child.stop()
    if code not in (0, -15):
        raise BenchError(
            f"the {child.name} exited with code {code} when stopped; last lines of "
            f"{child.log_path}:\n{child.log_tail()}"
        )
