"""Baseline (a), the ceiling: a bare confluent-kafka loop copying messages unchanged.

What a worker could reach if deciding cost nothing: consume in batches, produce the same key
and value to the output topic, commit offsets in the background (at least once, no
transactions). Run as ``python -m clearance.bench.ceiling --bootstrap ... --input ...
--output ... --group ...``; it stops on SIGTERM after flushing what it produced.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from confluent_kafka import Consumer, KafkaError, Producer

__all__ = ["copy_loop", "main"]


def copy_loop(bootstrap: str, source: str, target: str, group: str, stop: threading.Event) -> int:
    """Copy ``source`` to ``target`` until ``stop`` is set; returns the messages copied."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "compression.type": "none",
            "queue.buffering.max.messages": 500_000,
        }
    )
    consumer.subscribe([source])
    copied = 0
    try:
        while not stop.is_set():
            for message in consumer.consume(1000, 0.1):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"consuming {source} failed: {error}")
                while True:
                    try:
                        producer.produce(target, message.value(), message.key())
                        break
                    except BufferError:
                        producer.poll(0.01)
                copied += 1
            producer.poll(0)
    finally:
        producer.flush(30)
        consumer.close()
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clearance.bench.ceiling")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    copied = copy_loop(args.bootstrap, args.input, args.output, args.group, stop)
    print(f"copied {copied} messages", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
