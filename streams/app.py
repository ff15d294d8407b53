"""The Faust app: topics, the deciding agent, and how its output reaches Kafka.

:func:`build_app` is the constructor (no module-level app, no hidden globals): it takes the
settings and the compiled policy and returns a ``faust.App`` with the ``decide-actions`` agent.
The agent takes batches of events from ``clearance.actions``, hands them to
:class:`~clearance.streams.decide.Decider`, and produces the results through :class:`Emitter`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import StreamT

from clearance.config import Settings
from clearance.rules import CompiledPolicy

from .decide import Decider, InputMessage, OutputMessage, TopicNames
from .risk import AccessRisk

__all__ = ["Emitter", "WorkerStats", "build_app"]


@dataclass
class WorkerStats:
    """Counters the status endpoint shows."""

    events: int = 0
    batches: int = 0
    outputs: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "batches": self.batches, "outputs": dict(self.outputs)}


class Emitter:
    """Produces a batch's outputs and waits until Kafka has them all.

    Under ``exactly_once`` every output goes through the transactional producer of the input
    partition it answers, so the decision and the input offset commit in the same
    transaction. (Faust's own ``topic.send`` picks the transaction by the *output* key's
    partition, which differs from the input partition whenever the publisher's partitioner
    differs from Faust's, and would let an offset commit without its decision.)
    Waiting for delivery before the batch is acknowledged keeps ``at_least_once`` honest too.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._transactional_ids: dict[tuple[str, int], str] = {}

    def _transactional_id(self, source: InputMessage) -> str:
        tp = (source.topic, source.partition)
        tid = self._transactional_ids.get(tp)
        if tid is None:
            # Same format as faust.transport.consumer.TransactionManager.
            group = self.app.assignor.group_for_topic(source.topic)
            tid = f"{self.app.conf.id}-{group}-{source.partition}"
            self._transactional_ids[tp] = tid
        return tid

    async def emit(self, outputs: list[OutputMessage]) -> None:
        """Send every output; returns once all are acknowledged by the broker."""
        producer = self.app.producer
        in_transaction = self.app.in_transaction
        pending = []
        for out in outputs:
            tid = self._transactional_id(out.source) if in_transaction else None
            pending.append(
                await producer.send(
                    out.topic, out.key, out.value, None, None, None, transactional_id=tid
                )
            )
        if pending:
            await asyncio.gather(*pending)


def faust_settings(settings: Settings) -> dict[str, Any]:
    """The Faust configuration Clearance runs with (see docs/operations.md for why)."""
    request_bytes = 2 * settings.max_message_bytes + 131_072
    return {
        "broker": [f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        "store": "memory://",
        "processing_guarantee": settings.processing_guarantee,
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        # Events published before the first worker started must still be decided.
        "consumer_auto_offset_reset": "earliest",
        "datadir": str(settings.data_dir / "faust"),
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_bind": settings.web_host,
        "autodiscover": False,
        "producer_max_request_size": request_bytes,
        "consumer_max_fetch_size": request_bytes,
        "broker_commit_interval": settings.commit_interval_ms / 1000,
        "producer_linger": 0.002,
    }


def _access_risk(app: faust.App, settings: Settings) -> AccessRisk:
    """Access scoring with its profiles in a changelog-backed table, by input partition."""
    from clearance.detectors import AccessModel, cold_start_model

    profiles = app.Table(
        "risk-profiles",
        partitions=settings.topic_partitions,
        key_type=str,
        value_type=None,
        value_serializer="json",
    )
    model = (
        AccessModel.load(settings.access_model_path)
        if settings.access_model_path
        else cold_start_model()
    )

    def save(partition: int, key: str, state: Any) -> None:
        # Written at the end of a batch, so the partition is named, not taken from the
        # stream's current event.
        profiles.data[key] = state
        profiles.send_changelog(partition, key, state)

    return AccessRisk(model, load=profiles.data.get, save=save)


def build_app(settings: Settings, policy: CompiledPolicy) -> faust.App:
    """Build the worker's Faust app for ``settings`` with ``policy`` in force."""
    app = faust.App(settings.app_id, **faust_settings(settings))
    topics = TopicNames.with_prefix(settings.topic_prefix)
    actions = app.topic(
        settings.topic("actions"),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    risk = _access_risk(app, settings) if settings.detectors == "access" else None
    decider = Decider(policy, topics, settings.output_format, settings.max_message_bytes, risk=risk)
    emitter = Emitter(app)
    stats = WorkerStats()
    app.clearance_stats = stats  # type: ignore[attr-defined]
    app.clearance_decider = decider  # type: ignore[attr-defined]
    batch_wait = settings.batch_wait_ms / 1000

    @app.agent(actions, name="decide-actions")
    async def decide_actions(stream: StreamT) -> None:
        # take_events is faust-streaming's; StreamT does not declare it.
        take = stream.take_events  # type: ignore[attr-defined]
        async for events in take(settings.batch_max_events, within=batch_wait):
            batch = [
                InputMessage(
                    m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000)
                )
                for m in (event.message for event in events)
            ]
            outputs = decider.decide_batch(batch)
            if risk is not None:
                risk.flush()
            await emitter.emit(outputs)
            stats.events += len(batch)
            stats.batches += 1
            stats.outputs.update(out.topic for out in outputs)

    @app.page("/clearance/status")
    async def status(self: Any, request: Any) -> Any:
        return self.json({"policy_version": decider.policy.version, "stats": stats.as_dict()})

    return app
