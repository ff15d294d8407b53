"""``clearance demo``: everything on one machine, and a live summary read from ClickHouse.

Starts the local broker (when the bootstrap points at it), a worker with the embedded audit
store, and a publisher of seeded demo traffic (half JSON, half Avro single-object encoding,
with a share of malformed messages); every few seconds prints decisions by effect and the dead
letters, as recorded in ClickHouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import click
from confluent_kafka import Producer

from clearance.audit import query
from clearance.config import Settings
from clearance.errors import ClearanceError
from clearance.schemas import Codec
from clearance.traffic import TrafficGenerator, malformed_messages

__all__ = ["publish_demo_traffic", "run_demo"]

SUMMARY_SQL = """
SELECT effect, count() AS decisions
FROM clearance.decisions FINAL
GROUP BY effect ORDER BY decisions DESC
"""
DEAD_LETTER_SQL = "SELECT count() FROM clearance.dead_letters FINAL"


def publish_demo_traffic(
    settings: Settings, rate: int, stop: threading.Event, malformed: float, counts: dict[str, int]
) -> None:
    """Publish demo events at ``rate`` per second until ``stop`` is set."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    codec = Codec("ActionEvent")
    traffic = TrafficGenerator(seed=int(time.time()))
    bad = malformed_messages(10**9)
    topic = settings.topic("actions")
    interval = 1.0 / max(rate, 1)
    next_at = time.monotonic()
    sent = 0
    while not stop.is_set():
        event = traffic.event()
        key = event["principal"]["id"].encode()
        if sent % 100 < malformed * 100:
            value, _ = next(bad)
            counts["malformed"] += 1
        else:
            value = codec.encode(event, "json" if sent % 2 else "avro")
            counts["events"] += 1
        producer.produce(topic, value=value, key=key)
        producer.poll(0)
        sent += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    producer.flush(10)


def _summary(settings: Settings) -> tuple[dict[str, int], int]:
    by_effect = {str(row[0]): int(row[1]) for row in query(SUMMARY_SQL, settings.audit_dsn).rows}
    dead = query(DEAD_LETTER_SQL, settings.audit_dsn).rows
    return by_effect, int(dead[0][0]) if dead else 0


def _print_summary(elapsed: float, counts: dict[str, int], settings: Settings) -> None:
    try:
        by_effect, dead = _summary(settings)
    except ClearanceError as exc:
        click.echo(f"[{elapsed:5.0f}s] audit store not ready yet ({exc})")
        return
    total = sum(by_effect.values())
    parts = "  ".join(f"{effect}={n}" for effect, n in sorted(by_effect.items()))
    click.echo(
        f"[{elapsed:5.0f}s] published {counts['events']} events + {counts['malformed']} "
        f"malformed | in ClickHouse: {total} decisions ({parts or 'none yet'}), "
        f"{dead} dead letters"
    )


def run_demo(settings: Settings, rate: int, duration: int, every: float, malformed: float) -> None:
    """Run the demo until Ctrl-C (or ``duration`` seconds)."""
    from clearance.localkafka import LocalKafka

    broker = LocalKafka(data_dir=settings.data_dir / "kafka", port=settings.kafka_port)
    if settings.kafka_bootstrap == broker.bootstrap:
        click.echo(f"starting local Kafka at {broker.bootstrap} ...")
        broker.up()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / "worker.log"
    click.echo(f"starting a worker (log: {log_path}) ...")
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "clearance.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
    stop = threading.Event()
    counts: dict[str, Any] = {"events": 0, "malformed": 0}
    publisher = threading.Thread(
        target=publish_demo_traffic, args=(settings, rate, stop, malformed, counts), daemon=True
    )
    started = time.monotonic()
    publisher.start()
    try:
        while duration <= 0 or time.monotonic() - started < duration:
            time.sleep(every)
            if worker.poll() is not None:
                raise ClearanceError(
                    f"the worker exited with code {worker.returncode}; see {log_path}"
                )
            _print_summary(time.monotonic() - started, counts, settings)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        publisher.join(15)
        if worker.poll() is None:
            time.sleep(2 * settings.audit_batch_wait_ms / 1000 + 1)
            _print_summary(time.monotonic() - started, counts, settings)
            worker.terminate()
            worker.wait(60)
    click.echo("demo stopped; the broker keeps running (`clearance kafka down` stops it)")
