"""End to end on the real broker: publish with confluent-kafka, read decisions back from Kafka,
and query them from ClickHouse through `clearance audit query`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from clearance.rules import DEFAULT_PACK_PATH, compile_pack, load_pack
from clearance.schemas import Codec
from clearance.traffic import TrafficGenerator, malformed_messages

pytestmark = pytest.mark.integration


def publish(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in messages:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def consume(bootstrap: str, topic: str, count: int, timeout: float) -> list[Any]:
    """Read ``count`` committed messages from the start of ``topic`` (fails on timeout)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < count and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                assert message.error() is None, message.error()
                messages.append(message)
        # Anything beyond `count` would be a doubled output: look a little longer.
        end = time.monotonic() + 2
        while time.monotonic() < end:
            messages.extend(m for m in consumer.consume(1000, 0.5) if m.error() is None)
    finally:
        consumer.close()
    assert len(messages) >= count, f"only {len(messages)} of {count} messages on {topic}"
    return messages


def control_records(bootstrap: str, topic: str, records: int) -> int:
    """Offsets of ``topic`` that hold none of its ``records``: transaction markers."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        ]
    finally:
        consumer.close()
    return sum(ends) - records


def audit_query(env: dict[str, str], sql: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "clearance.cli", "audit", "query", "--format", "json", sql],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def wait_until_recorded(env: dict[str, str], count: int, wait_for: Any, table: str) -> None:
    def recorded() -> bool:
        rows = audit_query(env, f"SELECT count() AS n FROM clearance.{table} FINAL")
        return int(rows[0]["n"]) >= count

    wait_for(recorded, timeout=90, interval=1.0, what=f"{count} rows in clearance.{table}")


def test_json_and_avro_events_get_one_decision_each_on_kafka_and_in_clickhouse(
    clearance_env: dict[str, str], start_clearance: Any, wait_for: Any
) -> None:
    env = clearance_env
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    worker = start_clearance(["worker"], env)
    codec = Codec("ActionEvent")
    events = list(TrafficGenerator(seed=3).events(400))
    # Half JSON, half Avro single-object encoding, as two different publishers would send.
    messages = [
        (e["principal"]["id"].encode(), codec.encode(e, "json" if i % 2 else "avro"))
        for i, e in enumerate(events)
    ]
    time.sleep(1)  # let the worker create the topics before the publisher writes
    wait_for(worker.alive, timeout=5, what="worker running")
    publish(bootstrap, f"{prefix}actions", messages)

    decisions = consume(bootstrap, f"{prefix}decisions", len(events), timeout=120)
    decoded = [Codec("Decision").decode(m.value()) for m in decisions]
    by_event = Counter(d["event_id"] for d in decoded)
    assert set(by_event) == {e["event_id"] for e in events}
    assert max(by_event.values()) == 1, "an event got more than one decision"
    # Under exactly_once (the default) decisions commit in transactions, whose commit markers
    # take offsets of their own; without transactions there would be none.
    assert control_records(bootstrap, f"{prefix}decisions", len(events)) > 0

    # Each decision is the one the policy gives, citing the pack's version.
    policy = compile_pack(load_pack(DEFAULT_PACK_PATH))
    expected = {e["event_id"]: policy.decide(e, "action") for e in events}
    for decision in decoded:
        verdict = expected[decision["event_id"]]
        assert decision["effect"] == verdict.effect
        assert decision["rule_ids"] == list(verdict.rule_ids)
        assert decision["policy_version"] == policy.version
    assert len({d["effect"] for d in decoded}) >= 3, "demo traffic should exercise the effects"

    # Escalate and revoke decisions also go to their own topics.
    effects = Counter(d["effect"] for d in decoded)
    if effects["escalate"]:
        consume(bootstrap, f"{prefix}escalations", effects["escalate"], timeout=30)
    if effects["revoke"]:
        consume(bootstrap, f"{prefix}revocations", effects["revoke"], timeout=30)

    # The analyst's view, through the running worker's read-only endpoint.
    wait_until_recorded(env, len(events), wait_for, "decisions")
    rows = audit_query(
        env,
        "SELECT count() AS n, uniqExact(event_id) AS events FROM clearance.decisions FINAL",
    )
    assert rows == [{"n": len(events), "events": len(events)}]
    by_effect = audit_query(
        env, "SELECT effect, count() AS n FROM clearance.decisions FINAL GROUP BY effect"
    )
    assert {r["effect"]: int(r["n"]) for r in by_effect} == dict(effects)

    # After the worker stops, the same query opens the store directly.
    assert worker.stop() == 0, worker.log()
    rows = audit_query(env, "SELECT count() AS n FROM clearance.decisions")
    assert rows == [{"n": len(events)}]


def test_malformed_messages_are_dead_lettered_and_valid_traffic_still_decided(
    clearance_env: dict[str, str], start_clearance: Any, wait_for: Any
) -> None:
    env = clearance_env
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    bootstrap = env["CLEARANCE_KAFKA_BOOTSTRAP"]
    start_clearance(["worker"], env)
    codec = Codec("ActionEvent")
    events = list(TrafficGenerator(seed=5).events(1000))
    bad = list(malformed_messages(10_000))
    messages: list[tuple[bytes | None, bytes]] = []
    for i, (value, _) in enumerate(bad):
        messages.append((None if i % 3 else b"k", value))
        if i % 10 == 0:
            event = events[i // 10]
            messages.append((event["principal"]["id"].encode(), codec.encode(event, "json")))
    time.sleep(1)
    publish(bootstrap, f"{prefix}actions", messages)

    dead = consume(bootstrap, f"{prefix}dead-letter", len(bad), timeout=180)
    letters = [Codec("DeadLetter").decode(m.value()) for m in dead]
    assert len(letters) == len(bad)
    assert Counter(d["reason_code"] for d in letters) == Counter(code for _, code in bad)
    assert all(d["reason"] and d["source_topic"] == f"{prefix}actions" for d in letters)
    # The original bytes are kept, so nothing is lost.
    assert Counter(d["value"] or b"" for d in letters) == Counter(v for v, _ in bad)

    decisions = consume(bootstrap, f"{prefix}decisions", len(events), timeout=120)
    assert {Codec("Decision").decode(m.value())["event_id"] for m in decisions} == {
        e["event_id"] for e in events
    }
    wait_until_recorded(env, len(bad), wait_for, "dead_letters")


def test_registry_framed_message_is_dead_lettered_with_that_reason(
    clearance_env: dict[str, str], start_clearance: Any
) -> None:
    env = clearance_env
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    start_clearance(["worker", "--no-audit-sink"], env)
    time.sleep(1)
    publish(
        env["CLEARANCE_KAFKA_BOOTSTRAP"], f"{prefix}actions", [(b"p", b"\x00\x00\x00\x00\x2a{}")]
    )
    [message] = consume(env["CLEARANCE_KAFKA_BOOTSTRAP"], f"{prefix}dead-letter", 1, timeout=90)
    letter = Codec("DeadLetter").decode(message.value())
    assert letter["reason_code"] == "registry_framing"
    assert "schema id 42" in letter["reason"]
    assert letter["source_partition"] >= 0 and letter["source_offset"] == 0


def test_second_sink_on_the_embedded_store_stops_at_once_naming_the_fix(
    clearance_env: dict[str, str], start_clearance: Any, wait_for: Any
) -> None:
    env = clearance_env
    start_clearance(["worker"], env)
    wait_for(
        lambda: env_dir_has_lock(env),
        timeout=60,
        what="the worker to hold the embedded store",
    )
    second = subprocess.run(
        [sys.executable, "-m", "clearance.cli", "audit", "sink"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "--no-audit-sink" in second.stderr and "CLEARANCE_CLICKHOUSE_DSN" in second.stderr
    assert "Traceback" not in second.stderr


def env_dir_has_lock(env: dict[str, str]) -> bool:
    from pathlib import Path

    return any(Path(env["CLEARANCE_DATA_DIR"]).glob("**/*.lock"))


def test_bad_setting_stops_the_worker_naming_the_variable(clearance_env: dict[str, str]) -> None:
    env = dict(clearance_env, CLEARANCE_TOPIC_PARTITIONS="zero")
    result = subprocess.run(
        [sys.executable, "-m", "clearance.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CLEARANCE_TOPIC_PARTITIONS" in result.stderr
    assert "Traceback" not in result.stderr


def test_with_access_detectors_decisions_carry_scores_queryable_in_clickhouse(
    clearance_env: dict[str, str], start_clearance: Any, wait_for: Any
) -> None:
    env = dict(clearance_env, CLEARANCE_DETECTORS="access")
    prefix = env["CLEARANCE_TOPIC_PREFIX"]
    start_clearance(["worker"], env)
    codec = Codec("ActionEvent")
    events = list(TrafficGenerator(seed=8).events(100))
    time.sleep(1)
    publish(
        env["CLEARANCE_KAFKA_BOOTSTRAP"],
        f"{prefix}actions",
        [(e["principal"]["id"].encode(), codec.encode(e)) for e in events],
    )
    wait_until_recorded(env, len(events), wait_for, "decisions")
    rows = audit_query(
        env,
        "SELECT count() AS n, countIf(length(explanations) > 0) AS explained, "
        "min(detector_scores['access']) AS low, max(detector_scores['access']) AS high "
        "FROM clearance.decisions FINAL",
    )
    [row] = rows
    assert row["n"] == len(events) and row["explained"] == len(events)
    assert 0.0 <= row["low"] <= row["high"] <= 1.0
