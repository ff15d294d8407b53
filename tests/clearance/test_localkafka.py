"""Tests for clearance.localkafka: real brokers on free ports in tmp_path, and its clear errors."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _ports import bindable, free_port
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from clearance.localkafka import DEFAULT_POM, LocalKafka, LocalKafkaError

POM_VERSION = re.search(r"<kafka.version>([^<]+)</kafka.version>", DEFAULT_POM.read_text())


def _gone(pid: int) -> bool:
    """The broker, a child of this process, has exited and been waited for."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalKafka]:
    kafka = LocalKafka(tmp_path / "kafka", port=free_port())
    yield kafka
    kafka.down()


def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    )
    futures[topic].result(timeout=30)


def _topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def _produce(bootstrap: str, topic: str, partition: int, key: bytes, value: bytes) -> list[str]:
    errors: list[str] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            errors.append(error.name())

    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 3000})
    producer.produce(topic, key=key, value=value, partition=partition, on_delivery=delivered)
    assert producer.flush(10) == 0
    return errors


def _read_first(bootstrap: str, topic: str, partition: int) -> tuple[bytes | None, bytes | None]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "test-localkafka", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return message.key(), message.value()
        raise AssertionError(f"no message in {topic}[{partition}] within 20 s")
    finally:
        consumer.close()


def _cluster_id(data_dir: Path) -> str:
    meta = (data_dir / "kraft" / "meta.properties").read_text()
    found = re.search(r"^cluster\.id=(.+)$", meta, re.MULTILINE)
    assert found is not None, meta
    return found.group(1)


@pytest.mark.integration
def test_up_keeps_messages_across_restart_and_down_leaves_no_process(broker: LocalKafka) -> None:
    broker.up(timeout=120)
    status = broker.status()
    assert status.running and status.answering
    assert status.pid is not None and not _gone(status.pid)
    assert status.bootstrap == f"127.0.0.1:{broker.port}" == broker.bootstrap
    assert POM_VERSION is not None and status.version == POM_VERSION.group(1)
    assert status.data_dir == broker.data_dir
    # The shipped log4j2 configuration is in effect: INFO goes to the log file, not stdout.
    assert "Kafka Server started" in status.log_file.read_text()
    assert " INFO " not in (broker.data_dir / "broker.out").read_text()

    _create_topic(broker.bootstrap, "decisions", partitions=3)
    assert _produce(broker.bootstrap, "decisions", 2, b"principal-7", b"deny") == []
    assert _read_first(broker.bootstrap, "decisions", 2) == (b"principal-7", b"deny")
    # Topics are never auto-created: a produce to an unknown topic fails and creates nothing.
    assert _produce(broker.bootstrap, "not-created", 0, b"k", b"v") != []
    assert "not-created" not in _topics(broker.bootstrap)

    cluster_id = _cluster_id(broker.data_dir)
    broker.restart()
    restarted = broker.status()
    assert restarted.running and restarted.answering
    assert restarted.pid != status.pid and _gone(status.pid)
    assert _cluster_id(broker.data_dir) == cluster_id
    assert _read_first(broker.bootstrap, "decisions", 2) == (b"principal-7", b"deny")

    broker.down()
    stopped = broker.status()
    assert not stopped.running and not stopped.answering and stopped.pid is None
    assert restarted.pid is not None and _gone(restarted.pid)
    assert not (broker.data_dir / "kafka.pid").exists()
    assert bindable(broker.port) and bindable(broker.controller_port)
    broker.down()  # idempotent


@pytest.mark.integration
def test_up_returns_at_once_when_running_and_recovers_after_kill(broker: LocalKafka) -> None:
    broker.up(timeout=120)
    pid = broker.status().pid
    _create_topic(broker.bootstrap, "actions", partitions=2)

    again = LocalKafka(broker.data_dir, port=broker.port)
    again.up(timeout=10)
    assert again.status().pid == pid
    assert broker.log_file.read_text().count("Kafka Server started") == 1

    elsewhere = LocalKafka(broker.data_dir, port=free_port())
    with pytest.raises(LocalKafkaError, match="already runs from"):
        elsewhere.up(timeout=10)

    broker.kill()
    assert pid is not None and _gone(pid)
    assert not broker.status().running

    broker.up(timeout=120)
    assert broker.status().answering
    assert "actions" in _topics(broker.bootstrap)


@pytest.mark.parametrize("taken", ["client", "controller"])
def test_port_in_use_names_the_port_and_the_setting(tmp_path: Path, taken: str) -> None:
    port = free_port()
    busy = port if taken == "client" else port + 1
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", busy))
        squatter.listen()
        with pytest.raises(LocalKafkaError) as caught:
            LocalKafka(tmp_path, port=port).up(timeout=10)
    assert f"port {busy} " in str(caught.value)
    assert "CLEARANCE_KAFKA_PORT" in str(caught.value)
    assert not (tmp_path / "kafka.pid").exists()


def test_missing_maven_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match=r"'/nonexistent/mvn' not found.*apt-get install"):
        LocalKafka(tmp_path, mvn="/nonexistent/mvn").classpath()


def test_missing_java_says_how_to_install_it(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path, port=free_port(), java="/nonexistent/java")
    with pytest.raises(LocalKafkaError, match=r"'/nonexistent/java' not found.*openjdk-17"):
        broker.up(timeout=10)


@pytest.mark.integration
def test_classpath_is_cached_per_pom(tmp_path: Path) -> None:
    classpath = LocalKafka(tmp_path).classpath()
    jars = classpath.split(os.pathsep)
    assert any(Path(jar).name.startswith("kafka_2.13-") for jar in jars)
    assert all(Path(jar).is_file() for jar in jars)
    # Cached: Maven is not needed again for the same pom...
    assert LocalKafka(tmp_path, mvn="/nonexistent/mvn").classpath() == classpath
    # ...but a changed pom is resolved again.
    edited = tmp_path / "pom.xml"
    edited.write_text(DEFAULT_POM.read_text() + "<!-- edited -->\n")
    with pytest.raises(LocalKafkaError, match="Maven executable"):
        LocalKafka(tmp_path, mvn="/nonexistent/mvn", pom=edited).classpath()


@pytest.mark.integration
def test_maven_failure_shows_the_end_of_its_output(tmp_path: Path) -> None:
    broken = tmp_path / "pom.xml"
    broken.write_text("<project><unclosed>\n")
    with pytest.raises(LocalKafkaError, match="Maven failed") as caught:
        LocalKafka(tmp_path / "kafka", pom=broken).classpath()
    assert str(broken) in str(caught.value)
    assert "\x1b[" not in str(caught.value)


def test_status_without_a_broker(tmp_path: Path) -> None:
    status = LocalKafka(tmp_path / "never-started", port=free_port()).status()
    assert not status.running and not status.answering and status.pid is None
    assert POM_VERSION is not None and status.version == POM_VERSION.group(1)


def test_down_and_kill_without_a_data_dir_do_nothing(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "never-started", port=free_port())
    broker.down()
    broker.kill()
    assert not broker.data_dir.exists()


def test_stale_pid_file_is_not_taken_for_a_broker(tmp_path: Path) -> None:
    # The pid of this test process: alive, but not a broker of this data dir.
    (tmp_path / "kafka.pid").write_text(f"{os.getpid()}\n")
    broker = LocalKafka(tmp_path, port=free_port())
    assert not broker.status().running
    broker.down()
    assert not (tmp_path / "kafka.pid").exists()


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"port": 70000}, "not a TCP port"),
        ({"port": 9092, "controller_port": 9092}, "both 9092"),
        ({"heap": "lots"}, "not a heap size"),
        ({"heap": "64m"}, "too small"),
    ],
)
def test_bad_arguments_are_refused(
    tmp_path: Path, arguments: dict[str, object], problem: str
) -> None:
    with pytest.raises(LocalKafkaError, match=problem):
        LocalKafka(tmp_path, **arguments)  # type: ignore[arg-type]


def test_ipv6_bootstrap_is_bracketed(tmp_path: Path) -> None:
    assert LocalKafka(tmp_path, port=19500, host="::1").bootstrap == "[::1]:19500"
