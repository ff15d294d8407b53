"""Baseline (c): the most a Faust agent moves on this machine when it does no work at all.

One agent takes the stream in batches (``take_events``, up to 2,000 events or 20 ms, as the
pipeline's deciding agent does) and hands each event's key and value, unchanged, to Faust's
producer without waiting for the broker (``producer.send``; the records leave in the
producer's batches). ``at_least_once``, no tables, no decoding: what is left is Faust's
consumer, its per-event path (``Event`` objects, the stream's queue, acknowledgements,
offset commits) and aiokafka's producer. Any pipeline built on Faust's consumer group pays at
least this per event, so it bounds what such a pipeline can reach here.

``--producer confluent`` hands the records to a confluent-kafka (librdkafka, C) producer
instead of Faust's, so that what is left is Faust's consumer side alone: the bound for a
pipeline that keeps Faust's consumer group and offsets but produces outside Faust.

Run as ``python -m clearance.bench.faust_floor --bootstrap ... --input ... --output ...
--app-id ... --data-dir ...``; it stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import confluent_kafka
import faust
from faust.types import StreamT

from .naive_faust import plain_app

__all__ = ["build_floor_app", "main"]

BATCH_EVENTS = 2000
BATCH_WAIT_S = 0.02


def build_floor_app(
    bootstrap: str, source: str, target: str, app_id: str, data_dir: Path, producer: str
) -> faust.App:
    """The floor app: every record of ``source`` copied to ``target``."""
    app = plain_app(bootstrap, app_id, data_dir)
    actions = app.topic(source, key_serializer="raw", value_serializer="raw")
    app.topic(target, key_serializer="raw", value_serializer="raw")

    if producer == "confluent":
        fast = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})

        @app.agent(actions, name="floor-copy")
        async def copy_fast(stream: StreamT) -> None:
            take = stream.take_events  # type: ignore[attr-defined]
            try:
                async for events in take(BATCH_EVENTS, within=BATCH_WAIT_S):
                    for event in events:
                        message = event.message
                        fast.produce(target, message.value, message.key)
                    fast.poll(0)
            finally:
                fast.flush(10)

        return app

    @app.agent(actions, name="floor-copy")
    async def copy(stream: StreamT) -> None:
        producer = app.producer
        take = stream.take_events  # type: ignore[attr-defined]
        async for events in take(BATCH_EVENTS, within=BATCH_WAIT_S):
            for event in events:
                message = event.message
                await producer.send(target, message.key, message.value, None, None, None)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clearance.bench.faust_floor")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--producer", choices=("faust", "confluent"), default="faust")
    args = parser.parse_args(argv)
    app = build_floor_app(
        args.bootstrap, args.input, args.output, args.app_id, args.data_dir, args.producer
    )
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
