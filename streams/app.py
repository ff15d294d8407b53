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

from .approvals_flow import approval_gate, install_approvals
from .decide import Decider, InputMessage, OutputMessage, TopicNames
from .policy_flow import install_policy_flow
from .revocations import RevocationEncoder
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
    """Produces a batch's outputs; under exactly-once, in the transaction that commits them.

    Under ``exactly_once`` each input partition has its own transactional producer (Faust's,
    by transactional id). :meth:`emit` hands a batch's outputs to the producer of the input
    partition they answer, records how far that partition's events are answered, acknowledges
    the events and returns without waiting for the broker: the next batch is decided while
    this one is on the wire. Faust's periodic commit (``broker_commit_interval``) then
    commits each partition's transaction through :meth:`_commit_transactions`, which replaces
    it: under the partition's lock it waits for every output sent in the transaction, puts
    the offset just past the last *answered* event into it, commits and begins the next one.
    Offsets and outputs therefore commit together or not at all, and a crash leaves the
    events since the last commit to be decided again, their first outputs aborted.

    Three Faust behaviours make this necessary (faust-streaming 0.15): ``topic.send`` picks
    the transaction by the *output* key's partition; Faust computes the offsets to commit
    before it takes the transaction's lock; and its commit does not wait for the outputs
    already handed to the producer (aiokafka's ``commit_transaction`` does not flush).

    Under ``at_least_once`` the outputs go through Faust's producer, which Faust flushes
    before it commits the consumer offsets.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._transactional_ids: dict[tuple[str, int], str] = {}
        #: Offset committed for an input partition (in its transaction), by this worker.
        self.committed: dict[tuple[str, int], int] = {}
        #: Open transactions: tid -> (producer, pending deliveries, next offset by partition).
        self._open: dict[str, _OpenTransaction] = {}
        self._installed = False

    def _transactional_id(self, topic: str, partition: int) -> str:
        tid = self._transactional_ids.get((topic, partition))
        if tid is None:
            # Same format as faust.transport.consumer.TransactionManager.
            group = self.app.assignor.group_for_topic(topic)
            tid = f"{self.app.conf.id}-{group}-{partition}"
            self._transactional_ids[(topic, partition)] = tid
        return tid

    async def emit(self, outputs: list[OutputMessage], events: list[EventT]) -> None:
        """Hand ``outputs`` (answering ``events``) to the producer; commit happens on interval."""
        if not self.app.in_transaction:
            send = self.app.producer.send
            for out in outputs:
                await send(out.topic, out.key, out.value, None, None, None)
            for event in events:
                event.ack()
            return
        self._install()
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
                await self._send_unit(topic, partition, unit, answered)
            except (ProducerFenced, IllegalOperation, TransactionUnavailable) as exc:
                # Another worker owns the partition now and holds its transactional id (the
                # fenced producer stays broken: IllegalOperation), so nothing of this unit
                # can commit: that worker decides these events again from the last committed
                # offset. Acknowledging them only releases Faust's bookkeeping; no offset of
                # a partition we lost is committed from here.
                log.warning(
                    "%s[%d]: abandoned %d events to the partition's new owner (%s)",
                    topic,
                    partition,
                    len(answered),
                    exc,
                )
                for event in answered:
                    event.ack()

    async def _send_unit(
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
            txn = self._open.get(tid)
            if txn is None or txn.producer is not producer:
                # A new producer (after a rebalance): what the old one had open was aborted.
                txn = self._open[tid] = _OpenTransaction(producer)
            send = producer.send
            pending = txn.pending
            for out in outputs:
                pending.append(await send(out.topic, out.value, key=out.key))
            txn.offsets[TopicPartition(topic, partition)] = events[-1].message.offset + 1
            for event in events:
                event.ack()

    async def emit_unanswered(
        self, topic: str, partition: int, outputs: list[OutputMessage]
    ) -> bool:
        """Produce ``outputs`` that answer no input event (timers) in ``topic[partition]``'s
        transaction.

        Returns False (nothing sent) when this worker does not own the partition: its new
        owner produces them from the recovered state. If the transaction holds answered
        events not committed yet, the outputs join it and commit with their offsets on the
        next interval; otherwise the transaction is committed at once.
        """
        if not self.app.in_transaction:
            send = self.app.producer.send
            pending = [await send(o.topic, o.key, o.value, None, None, None) for o in outputs]
            await asyncio.gather(*pending)
            return True
        self._install()
        driver: Any = self.app.producer
        tid = self._transactional_id(topic, partition)
        lock = driver._trn_locks.get(tid)
        if lock is None:
            return False
        async with lock:
            producer = driver._transaction_producers.get(tid)
            if producer is None:
                return False
            txn = self._open.get(tid)
            send = producer.send
            if txn is not None and txn.producer is producer:
                txn.pending.extend([await send(o.topic, o.value, key=o.key) for o in outputs])
                return True
            pending = [await send(o.topic, o.value, key=o.key) for o in outputs]
            await asyncio.gather(*pending)
            await producer.commit_transaction()
            await producer.begin_transaction()
        return True

    def _install(self) -> None:
        """Route Faust's periodic transaction commit through :meth:`_commit_transactions`."""
        if self._installed:
            return
        driver: Any = self.app.producer
        original = driver.commit_transactions

        async def commit_transactions(
            tid_to_offset_map: dict[str, dict[Any, int]],
            group_id: str,
            start_new_transaction: bool = True,
        ) -> None:
            committed = self.committed
            # Each partition's transaction has its own producer and coordinator round trips:
            # commit them side by side, so a batch waits for one commit, not for all in turn.
            ours = [tid for tid in tid_to_offset_map if tid in self._open]
            if ours:
                await asyncio.gather(
                    *(
                        self._commit_transaction(tid, group_id, start_new_transaction)
                        for tid in ours
                    )
                )
            for tid, offsets in tid_to_offset_map.items():
                if tid in self._open or tid in ours:
                    continue
                # Nothing sent since the last commit: only redelivered events were
                # acknowledged. Faust's offsets for them must not move the partition back.
                never_backwards = {
                    tp: max(offset, committed.get((tp.topic, tp.partition), -1))
                    for tp, offset in offsets.items()
                }
                await original({tid: never_backwards}, group_id, start_new_transaction)

        driver.commit_transactions = commit_transactions
        self._installed = True

    async def _commit_transaction(
        self, tid: str, group_id: str, start_new_transaction: bool
    ) -> None:
        driver: Any = self.app.producer
        async with driver._trn_locks[tid]:
            txn = self._open.pop(tid, None)
            producer = driver._transaction_producers.get(tid)
            if txn is None or producer is None or txn.producer is not producer:
                # Revoked since: the new owner's producer fenced this transaction.
                return
            try:
                # aiokafka's commit_transaction does not flush: wait for every record of
                # the transaction (ours and the tables' changelog writes) to be on the broker.
                await producer.flush()
                if txn.pending:
                    await asyncio.gather(*txn.pending)
                await producer.send_offsets_to_transaction(txn.offsets, group_id)
                await producer.commit_transaction()
            except (ProducerFenced, IllegalOperation) as exc:
                log.warning("%s: transaction abandoned to the partition's new owner (%s)", tid, exc)
                return
            except Exception as exc:
                # Outputs the broker refused: nothing of the transaction may commit. The
                # worker stops; its partitions' events are decided again from the offsets
                # committed before.
                log.error("%s: transaction failed, stopping the worker: %s", tid, exc)
                await self.app.crash(exc)
                raise
            for tp, offset in txn.offsets.items():
                self.committed[(tp.topic, tp.partition)] = offset
            if start_new_transaction:
                await producer.begin_transaction()


@dataclass
class _OpenTransaction:
    """Outputs sent in a transaction not committed yet, and the offsets they answer."""

    producer: Any
    pending: list[Any] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)


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
    approvals = approval_gate(app, settings)
    decider = Decider(
        policy,
        topics,
        settings.output_format,
        settings.max_message_bytes,
        risk=risk,
        approvals=approvals,
        revocations=RevocationEncoder.from_settings(settings),
    )
    emitter = Emitter(app)
    install_approvals(app, settings, approvals, decider, emitter)
    install_policy_flow(app, settings, decider, emitter, approvals)
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
        shadow = decider.shadow.policy.version if decider.shadow is not None else None
        return self.json(
            {
                "policy_version": decider.policy.version,
                "shadow_policy_version": shadow,
                "stats": stats.as_dict(),
            }
        )

    return app
