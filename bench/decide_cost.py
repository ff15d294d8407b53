"""Per-event cost of the decision path without Kafka: decode, detectors, rules, encode.

Runs :meth:`clearance.streams.decide.Decider.decide_batch` over seeded demo events in batches
of 2,000 (``--batch``), without and with unusual-access detectors, side by side, and prints
the median CPU microseconds per event over ``--repeat`` passes. Each batch ends as in the
worker: the open sessions changed (and, with detectors, ``AccessRisk.flush()``'s changed
profiles) go to a save that encodes them to JSON as Faust's table does. ``--no-sessions``
leaves the open sessions out, to see their share. ``--batch 70`` takes batches of the size
the worker's deciding agent takes under a backlog on this machine (its take() window fills
with about 70 events), where what a batch costs whatever its size weighs more. This is the
part of the worker's per-event cost that Clearance's own code controls (Faust's and Kafka's
share, the changelog sends included, is in `clearance bench`).

The events are keyed by principal and spread over the input partitions as Kafka spreads the
actions (:func:`~clearance.bench._produce.partition_for`), so each principal's profiles live
in one partition's store, as in the worker.

Once its long-lived state is built (policy, model, the encoded events), the bench collects
garbage and freezes what is left, as the worker does once started (``CLEARANCE_GC_FREEZE``);
``--no-freeze`` measures without.

Run: ``.venv/bin/python -m clearance.bench.decide_cost``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import orjson

from clearance.detectors import cold_start_model
from clearance.rules import DEFAULT_PACK_PATH, compile_pack, load_pack
from clearance.schemas import Codec
from clearance.streams.decide import Decider, InputMessage, TopicNames
from clearance.streams.heap import freeze_heap
from clearance.streams.risk import AccessRisk
from clearance.streams.sessions import SessionState
from clearance.traffic import TrafficGenerator

from ._produce import partition_for

BATCH = 2000


def _messages(count: int) -> list[InputMessage]:
    codec = Codec("ActionEvent")
    # Ending now: events far in the past would open no session (they are idle already).
    base = int(time.time() * 1000) - count * 10
    generator = TrafficGenerator(seed=1)
    # One event every 10 ms across the population, so rates look like a busy organisation.
    events = [generator.event(now_ms=base + i * 10) for i in range(count)]
    keys = [e["principal"]["id"].encode() for e in events]
    return [
        InputMessage("clearance.actions", partition_for(key), i, key, codec.encode(e), base)
        for i, (key, e) in enumerate(zip(keys, events, strict=True))
    ]


def _per_event_us(decider: Decider, messages: list[InputMessage], batch: int = BATCH) -> float:
    risk = decider.risk
    sessions = decider.sessions
    # CPU time of this process, not wall time: on a machine shared with other work the wall
    # clock measures the neighbours too.
    started = time.process_time()
    for i in range(0, len(messages), batch):
        decider.decide_batch(messages[i : i + batch])
        if risk is not None:
            risk.flush()
        if sessions is not None:
            sessions.flush()
    return (time.process_time() - started) / len(messages) * 1e6


def _encode_profile(partition: int, key: str, state: Any) -> None:
    orjson.dumps(state)


def _sessions(enabled: bool) -> SessionState | None:
    return SessionState(save=_encode_profile) if enabled else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=BATCH, help="events per decide_batch call")
    parser.add_argument("--no-sessions", action="store_true", help="keep no open sessions")
    parser.add_argument(
        "--no-freeze", action="store_true", help="do not gc.freeze() the state built at start"
    )
    args = parser.parse_args()
    policy = compile_pack(load_pack(DEFAULT_PACK_PATH))
    topics = TopicNames.with_prefix("clearance.")
    messages = _messages(args.events)
    model = cold_start_model()
    if not args.no_freeze:
        frozen = freeze_heap()
        print(f"froze {frozen.objects:,} objects in {frozen.seconds * 1000:.0f} ms")
    without, with_access = [], []
    for _ in range(args.repeat):
        # Fresh deciders per pass, alternating, so both see the same machine state.
        sessions = not args.no_sessions
        without.append(
            _per_event_us(
                Decider(policy, topics, sessions=_sessions(sessions)), messages, args.batch
            )
        )
        risk = AccessRisk(model, save=_encode_profile)
        decider = Decider(policy, topics, risk=risk, sessions=_sessions(sessions))
        with_access.append(_per_event_us(decider, messages, args.batch))
    a, b = statistics.median(without), statistics.median(with_access)
    kept = "without" if args.no_sessions else "with"
    state = "not frozen" if args.no_freeze else "frozen"
    print(
        f"decide_batch, default pack, {kept} open sessions, start-up state {state}, "
        f"{args.events} events in batches of {args.batch} x {args.repeat} passes (median):"
    )
    print(f"  without detectors      {a:7.1f} CPU us/event  ({1e6 / a:,.0f} events/s)")
    print(
        f"  with access detectors  {b:7.1f} CPU us/event  ({1e6 / b:,.0f} events/s)  {b / a:.2f}x"
    )


if __name__ == "__main__":
    main()
