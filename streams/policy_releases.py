"""Policy releases on ``clearance.policies``: check and publish a pack; read and compile one.

Plain Kafka (confluent-kafka), no Faust: the CLI publishes with :func:`publish_release`,
each worker follows the topic with its own :class:`PolicyFeed` (no consumer group: every
worker reads every release). The topic is compacted and keyed by slot and version: compaction
keeps the last push of each version, in push order, so a worker that starts finds the latest
release it can compile (a broken one published around the CLI does not hide the good one
before it); the audit sink keeps every release (content and pusher) in ClickHouse.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from clearance.errors import ClearanceError
from clearance.rules import (
    CompiledPolicy,
    PolicyError,
    compile_pack,
    lint_pack,
    load_pack,
    run_policy_tests,
)
from clearance.rules._loader import pack_files
from clearance.schemas import Codec, DecodeError

__all__ = [
    "PolicyFeed",
    "PolicyRefused",
    "compile_release",
    "prepare_release",
    "publish_release",
]

SLOTS = ("active", "shadow")


class PolicyRefused(ClearanceError):
    """A pack that may not be put in force: lint errors, failing tests, or bad content."""


def prepare_release(path: Path, slot: str, pushed_by: str) -> dict[str, Any]:
    """Lint, test and compile the pack at ``path``; its PolicyRelease record.

    Raises
    ------
    PolicyRefused
        With every lint error or failing test case, so nothing is published.
    """
    if not path.exists():
        raise PolicyRefused(
            f"policy pack {path} does not exist. Fix: pass a pack directory or file"
        )
    try:
        findings = lint_pack(path)
        errors = [str(f) for f in findings if f.severity == "error"]
        if errors:
            raise PolicyRefused(
                f"policy pack {path} refused: {len(errors)} lint errors:\n  "
                + "\n  ".join(errors)
                + "\nFix: correct them (`clearance policy lint`), then push again"
            )
        report = run_policy_tests(path)
        if not report.ok:
            raise PolicyRefused(
                f"policy pack {path} refused: {report.failed} of {len(report.results)} policy "
                f"tests fail:\n{report.render()}\nFix: correct the pack or its tests "
                "(`clearance policy test`), then push again"
            )
        pack = load_pack(path)
        compile_pack(pack)
        files = [
            {"path": relative, "content": file.read_text(encoding="utf-8")}
            for relative, file in pack_files(path)
        ]
    except PolicyError as exc:
        raise PolicyRefused(f"policy pack {path} refused: {exc}") from None
    return {
        "release_id": uuid.uuid4().hex,
        "slot": slot,
        "version": pack.version,
        "pack_name": pack.name or "",
        "pushed_by": pushed_by,
        "pushed_at": int(time.time() * 1000),
        "files": files,
        "tests_passed": report.passed,
        "lint_warnings": [str(f) for f in findings if f.severity != "error"],
    }


def publish_release(bootstrap: str, topic: str, release: Mapping[str, Any]) -> tuple[int, int]:
    """Publish a release keyed by slot and version; (partition, offset) once the broker has it."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    value = Codec("PolicyRelease").encode(dict(release))
    delivered: list[Any] = []
    producer.produce(
        topic,
        value,
        key=f"{release['slot']}:{release['version']}".encode(),
        on_delivery=lambda err, msg: delivered.append((err, msg)),
    )
    if producer.flush(30) or not delivered:
        raise ClearanceError(
            f"policy release not delivered to {topic} at {bootstrap} within 30 s. Fix: check "
            "that Kafka runs (`clearance kafka status`) and CLEARANCE_KAFKA_BOOTSTRAP"
        )
    error, message = delivered[0]
    if error is not None:
        raise ClearanceError(f"policy release refused by Kafka ({topic}): {error.str()}")
    return message.partition(), message.offset()


def compile_release(release: Mapping[str, Any], root: Path) -> CompiledPolicy:
    """Write a release's files under ``root/<version>/`` and compile them.

    Raises
    ------
    PolicyRefused
        A path leaving the pack, content that does not load, or a version that does not
        match the content (a release edited on the way).
    """
    version = str(release["version"])
    where = root / version.replace(":", "-")
    for item in release["files"]:
        relative = PurePosixPath(item["path"])
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise PolicyRefused(f"release {release['release_id']}: bad file path {item['path']!r}")
        target = where.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item["content"], encoding="utf-8")
    try:
        pack = load_pack(where)
        policy = compile_pack(pack)
    except PolicyError as exc:
        raise PolicyRefused(f"release {release['release_id']} ({version}): {exc}") from None
    if policy.version != version:
        raise PolicyRefused(
            f"release {release['release_id']} says version {version} but its files are "
            f"{policy.version}"
        )
    return policy


@dataclass
class PolicyFeed:
    """Reads ``clearance.policies`` from the beginning, outside any consumer group."""

    bootstrap: str
    topic: str

    def __post_init__(self) -> None:
        self._codec = Codec("PolicyRelease")
        self._consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"clearance-policy-feed-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )
        self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])

    def poll(self, timeout: float) -> tuple[list[dict[str, Any]], bool]:
        """Releases read within ``timeout`` and whether the end of the topic was reached."""
        releases: list[dict[str, Any]] = []
        at_end = False
        for message in self._consumer.consume(100, timeout):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end = True
                    continue
                if error.fatal():
                    raise KafkaException(error)
                continue
            if message.value() is None:
                continue
            try:
                releases.append(self._codec.decode(message.value()))
            except DecodeError:
                continue  # not a release: nothing to put in force
        return releases, at_end

    def history(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every release on the topic, oldest first, reading up to its end."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            releases, at_end = self.poll(1.0)
            found.extend(releases)
            if at_end:
                return found
        raise ClearanceError(
            f"could not read {self.topic} to its end within {timeout:.0f} s. Fix: check Kafka"
        )

    def close(self) -> None:
        self._consumer.close()
