"""The Faust app: topics, the deciding agent, and how its output reaches Kafka.

:func:`build_app` is the constructor (no module-level app, no hidden globals): it takes the
settings and the compiled policy and returns a ``faust.App`` with the ``decide-actions`` agent.
The agent takes batches of events from ``clearance.actions``, hands them to
:class:`~clearance.streams.decide.Decider`, and produces the results through :class:`Emitter`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import faust
import mode
from aiokafka.errors import IllegalOperation, ProducerFenced
from aiokafka.structs import TopicPartition
from faust.types import EventT, StreamT

from clearance.config import Settings
from clearance.errors import ClearanceError
from clearance.rules import CompiledPolicy

from .decide import Decider, InputMessage, OutputMessage, TopicNames
from .risk import AccessRisk

__all__ = ["Emitter", "TransactionUnavailable", "WorkerStats", "build_app"]

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """Counters the status endpoint shows."""

    events: int = 0
    batches: int = 0
    outputs: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "batches": self.batches, "outputs": dict(self.outputs)}


class Emitter:
    """Produces a batch's outputs; under exactly-once, in one transaction with their offsets.

    Under ``exactly_once``, for each input partition of a batch: send the outputs through
    that partition's transactional producer, acknowledge the events, send their offsets into
    the transaction and commit it, all under the transaction's lock. A crash at any point
    leaves either nothing of the unit or all of it (outputs *and* offsets) committed.

    Three Faust behaviours make this necessary (faust-streaming 0.15): ``topic.send`` picks
    the transaction by the *output* key's partition; ``take_events`` acknowledges a batch
    only after the loop body returns; and Faust's periodic commit computes the offsets
    before it takes the lock, so it would move an offset back behind a unit committed
    meanwhile. That commit is replaced by a no-op: every unit commits its own offsets.

    Under ``at_least_once`` the outputs are sent and awaited before ``take_events`` acks.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._transactional_ids: dict[tuple[str, int], str] = {}
        self.committed: dict[tuple[str, int], int] = {}
        self._wrapped = False
        # mode's handler type wants an untyped ``signal`` keyword that mypy cannot match here.
        app.on_partitions_revoked.connect(self._on_partitions_revoked)  # type: ignore[arg-type]

    def _transactional_id(self, topic: str, partition: int) -> str:
        tid = self._transactional_ids.get((topic, partition))
        if tid is None:
            # Same format as faust.transport.consumer.TransactionManager.
            group = self.app.assignor.group_for_topic(topic)
            tid = f"{self.app.conf.id}-{group}-{partition}"
            self._transactional_ids[(topic, partition)] = tid
        return tid

    async def emit(self, outputs: list[OutputMessage], events: list[EventT]) -> None:
        """Send ``outputs`` (answering ``events``) and return once the broker has them all."""
        if not self.app.in_transaction:
            producer = self.app.producer
            pending = [
                await producer.send(out.topic, out.key, out.value, None, None, None)
                for out in outputs
            ]
            if pending:
                await asyncio.gather(*pending)
            return
        self._wrap_faust_commit()
        by_partition: dict[tuple[str, int], list[OutputMessage]] = defaultdict(list)
        for out in outputs:
            by_partition[(out.source.topic, out.source.partition)].append(out)
        events_by_partition: dict[tuple[str, int], list[EventT]] = defaultdict(list)
        for event in events:
            events_by_partition[(event.message.topic, event.message.partition)].append(event)
        for (topic, partition), answered in events_by_partition.items():
            unit = by_partition.get((topic, partition), [])
            # An event below the offset this worker committed for the partition already has
            # its decision committed (in that same transaction): it is a redelivery after a
            # rebalance that gave the partition back to this worker. Deciding it again would
            # publish a second decision.
            done = self.committed.get((topic, partition), -1)
            if answered[0].message.offset < done:
                for event in answered:
                    if event.message.offset < done:
                        event.ack()
                answered = [e for e in answered if e.message.offset >= done]
                unit = [o for o in unit if o.source.offset >= done]
                if not answered:
                    continue
            try:
                await self._commit_unit(topic, partition, unit, answered)
            except (ProducerFenced, IllegalOperation, TransactionUnavailable) as exc:
                # Another worker owns the partition now and holds its transactional id (the
                # fenced producer stays broken: IllegalOperation), so nothing of this unit
                # can commit: that worker decides these events again from the last committed
                # offset. Acknowledging them only releases Faust's
                # bookkeeping; no offset of a partition we lost is committed from here.
                log.warning(
                    "%s[%d]: abandoned %d events to the partition's new owner (%s)",
                    topic,
                    partition,
                    len(answered),
                    exc,
                )
                for event in answered:
                    event.ack()

    async def _commit_unit(
        self, topic: str, partition: int, outputs: list[OutputMessage], events: list[EventT]
    ) -> None:
        # Faust's aiokafka driver keeps one producer and one lock per transactional id.
        driver: Any = self.app.producer
        tid = self._transactional_id(topic, partition)
        async with driver._trn_locks[tid]:
            producer = driver._transaction_producers.get(tid)
            if producer is None:
                raise TransactionUnavailable(
                    f"no open transaction for {topic}[{partition}]: the partition was revoked "
                    "while its batch was in flight; its new owner decides it again"
                )
            pending = [await producer.send(o.topic, o.value, key=o.key) for o in outputs]
            if pending:
                await asyncio.gather(*pending)
            for event in events:
                event.ack()
            next_offset = max(event.message.offset for event in events) + 1
            await producer.send_offsets_to_transaction(
                {TopicPartition(topic, partition): next_offset}, self.app.conf.id
            )
            await producer.commit_transaction()
            self.committed[(topic, partition)] = next_offset
            await producer.begin_transaction()

    def _wrap_faust_commit(self) -> None:
        if self._wrapped:
            return
        driver: Any = self.app.producer

        async def commit_transactions(
            tid_to_offset_map: dict[str, dict[Any, int]],
            group_id: str,
            start_new_transaction: bool = True,
        ) -> None:
            # Every unit commits its own offsets in its transaction, so Faust's periodic
            # commit has nothing to add, and what it would add is wrong: it computes the
            # offsets before it waits for each transaction's lock, so a unit that commits
            # meanwhile is moved back behind its own decisions (the next owner of the
            # partition decides them again); and it would commit the offsets of events
            # abandoned to a new owner.
            del tid_to_offset_map, group_id, start_new_transaction

        driver.commit_transactions = commit_transactions
        self._wrapped = True

    async def _on_partitions_revoked(self, app: Any, *args: Any, **kwargs: Any) -> None:
        """Close every transactional producer before this worker rejoins the group.

        Waiting for each transaction's lock lets a unit that is committing finish first, so
        the partition's next owner cannot read its offsets before that commit lands. Closing
        them all (a rebalance revokes every partition) means a partition assigned again gets
        a new producer that fences the old owner's; Faust keeps the producers of partitions
        that became standbys, and such a producer, fenced meanwhile, fails every unit.
        """
        driver: Any = self.app.producer
        for tid in list(driver._transaction_producers):
            async with driver._trn_locks[tid]:
                producer = driver._transaction_producers.pop(tid, None)
                if producer is not None:
                    await producer.stop()


class TransactionUnavailable(ClearanceError):
    """A batch's input partition has no open transaction (it was revoked mid-batch)."""


def faust_settings(settings: Settings) -> dict[str, Any]:
    """The Faust configuration Clearance runs with."""
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
        # A dead worker's open transaction hides the decisions behind it from read_committed
        # consumers until its partitions move on; Faust's default waits 60 s for that.
        "broker_session_timeout": 15.0,
    }


def _access_risk(app: faust.App, settings: Settings) -> AccessRisk:
    """Access scoring with its profiles in a changelog-backed table, by input partition."""
    from clearance.detectors import AccessModel, cold_start_model

    profiles = app.Table(
        "risk-profiles",
        partitions=settings.topic_partitions,
        key_type=str,
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

    # An agent that fails for any other reason stops the worker (and so shows), instead of
    # leaving its partitions assigned to a process that no longer decides them.
    @app.agent(actions, name="decide-actions", supervisor_strategy=mode.CrashingSupervisor)
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
            await emitter.emit(outputs, events)
            stats.events += len(batch)
            stats.batches += 1
            stats.outputs.update(out.topic for out in outputs)

    @app.page("/clearance/status")
    async def status(self: Any, request: Any) -> Any:
        return self.json({"policy_version": decider.policy.version, "stats": stats.as_dict()})

    return app
