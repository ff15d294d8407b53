"""Where one scenario runs: its own topics, consumer groups and directory on the bench broker.

Every scenario gets a fresh name ``bench<8 hex>``: topics ``bench<hex>.actions`` and so on,
Faust app ids and consumer groups starting with the same name, and a directory of its own
(audit store, Faust data, logs). Its topics are deleted when it ends, so runs neither
interfere nor pile up partitions on the broker; its stores are deleted too unless it failed
(the logs stay).

The output topic (``decisions``) is created with ``message.timestamp.type=LogAppendTime``:
its records carry the time the broker appended them, whichever client produced them, so
every scenario is timed by the same clock at the same point (the broker has the output).
A producer's own create time would be the time it *queued* a record, which for a client
with a deep send queue (the ceiling's) can run far ahead of what the broker has.
"""

from __future__ import annotations

import shutil
import socket
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient

from clearance.streams.topics import clearance_topics, ensure_topics

__all__ = ["Space", "Stage", "free_port"]

_MAX_MESSAGE_BYTES = 1_048_576


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Stage:
    """What every scenario of a benchmark run shares.

    Attributes
    ----------
    bootstrap
        The broker.
    work_dir
        Parent of the scenarios' directories.
    pack
        The policy pack directory.
    partitions
        Partitions of every topic (``CLEARANCE_TOPIC_PARTITIONS`` of the worker).
    broker_pid
        The broker's process, when known, for its CPU share.
    """

    bootstrap: str
    work_dir: Path
    pack: Path
    partitions: int
    broker_pid: int | None


class Space:
    """A scenario's fresh names and directory; a context manager creating and deleting topics."""

    def __init__(self, stage: Stage, label: str) -> None:
        self.stage = stage
        self.name = f"bench{uuid.uuid4().hex[:8]}"
        self.prefix = f"{self.name}."
        self.dir = stage.work_dir / f"{label}-{self.name}"

    def topic(self, name: str) -> str:
        """Full name of one of Clearance's topics in this space, e.g. ``topic("actions")``."""
        return f"{self.prefix}{name}"

    def group(self, role: str) -> str:
        """A consumer group (or Faust app id) of this space."""
        return f"{self.name}.{role}"

    def __enter__(self) -> Space:
        self.dir.mkdir(parents=True, exist_ok=True)
        specs = [
            replace(spec, config={**spec.config, "message.timestamp.type": "LogAppendTime"})
            if spec.name == self.topic("decisions")
            else spec
            for spec in clearance_topics(self.prefix, self.stage.partitions, 1, _MAX_MESSAGE_BYTES)
        ]
        ensure_topics(self.stage.bootstrap, specs)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        admin = AdminClient({"bootstrap.servers": self.stage.bootstrap})
        # Faust's own topics are named after the app id, which starts with the space's name.
        names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(self.name)]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                future.result()
        if exc is None:
            for state in ("data", "faust"):
                shutil.rmtree(self.dir / state, ignore_errors=True)
