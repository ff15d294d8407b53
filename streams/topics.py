"""Clearance's topics: their names, settings, and creation at start.

Topics are created explicitly (not by broker auto-creation) because the partition count is part
of the contract: actions, approvals and the Faust table changelogs must have the same number of
partitions so a principal's state sits in the partition of its events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from clearance.errors import ClearanceError

__all__ = ["TopicSetupError", "TopicSpec", "clearance_topics", "ensure_topics"]

# Inputs keyed by principal (or model) whose partition count must match the tables'.
CO_PARTITIONED = ("actions", "approvals", "model-events")


class TopicSetupError(ClearanceError):
    """A topic cannot be created or exists with settings Clearance cannot work with."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)
    co_partitioned: bool = False


def clearance_topics(
    prefix: str, partitions: int, replication: int, max_message_bytes: int
) -> list[TopicSpec]:
    """Every topic Clearance reads or writes, with the settings it needs."""
    # A dead letter wraps a message of up to max_message_bytes plus its envelope.
    dead_letter_bytes = str(2 * max_message_bytes + 65_536)
    names = [
        "actions",
        "model-events",
        "approvals",
        "decisions",
        "revocations",
        "escalations",
        "approval-outcomes",
        "shadow-decisions",
        "dead-letter",
    ]
    specs = []
    for name in names:
        config = {"max.message.bytes": dead_letter_bytes} if name == "dead-letter" else {}
        specs.append(
            TopicSpec(f"{prefix}{name}", partitions, replication, config, name in CO_PARTITIONED)
        )
    specs.append(TopicSpec(f"{prefix}policies", 1, replication, {"cleanup.policy": "compact"}))
    return specs


def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist; check the co-partitioned ones that do.

    Returns
    -------
    list[str]
        Names of the topics created now.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise TopicSetupError(
            f"cannot reach Kafka at {bootstrap} ({exc.args[0]}); start it with "
            "`clearance kafka up` or set CLEARANCE_KAFKA_BOOTSTRAP"
        ) from None
    missing = [s for s in specs if s.name not in existing]
    for spec in specs:
        if spec.co_partitioned and spec.name in existing:
            have = len(existing[spec.name].partitions)
            if have != spec.partitions:
                raise TopicSetupError(
                    f"topic {spec.name} has {have} partitions but CLEARANCE_TOPIC_PARTITIONS is "
                    f"{spec.partitions}; set CLEARANCE_TOPIC_PARTITIONS={have} (partitions of "
                    "existing topics cannot shrink) or use a new CLEARANCE_TOPIC_PREFIX"
                )
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(s.name, s.partitions, s.replication, config=s.config) for s in missing],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            error = exc.args[0]
            if error.name() == "TOPIC_ALREADY_EXISTS":
                continue  # another worker created it at the same moment
            raise TopicSetupError(f"cannot create topic {name}: {error.str()}") from None
    _wait_for_leaders(admin, [s.name for s in missing], timeout)
    return created


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Wait until every partition of ``names`` has a leader in the cluster's metadata.

    A created topic reaches the brokers' metadata a moment after the controller accepts
    it; a producer that asks before then is told the topic does not exist.
    """
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting and time.monotonic() < deadline:
        topics = admin.list_topics(timeout=timeout).topics
        waiting = [
            name
            for name in waiting
            if name not in topics
            or topics[name].error is not None
            or not topics[name].partitions
            or any(p.leader < 0 for p in topics[name].partitions.values())
        ]
        if waiting:
            time.sleep(0.1)
    if waiting:
        raise TopicSetupError(
            f"topics {', '.join(waiting)} were created but have no leader after {timeout:.0f} s; "
            "check the broker's log"
        )
