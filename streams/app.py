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
from collections.abc import Callable, Iterable, Sequence
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

from .approvals_flow import ApprovalTables, approval_gate, install_approvals
from .decide import Decider, InputMessage, OutputMessage, TopicNames
from .models import install_model_monitoring
from .policy_flow import install_policy_flow
from .positions import InputPositions
from .revocations import RevocationEncoder
from .risk import AccessRisk
from .sessions import SessionState
from .state import ChangelogState, StateWrite

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


class ClearanceApp(faust.App):
    """Faust's app, which hands its consumer to each of ``consumer_hooks`` once the consumer
    exists and before it fetches anything (the fetch loop, started at the first assignment,
    keeps what it found on the consumer then)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consumer_hooks: list[Callable[[Any], None]] = [ask_broker_for_highwaters]

    async def on_start(self) -> None:
        await super().on_start()
        for hook in self.consumer_hooks:
            hook(self.consumer)


def ask_broker_for_highwaters(consumer: Any) -> None:
    """Make Faust recover tables up to each changelog's end as the broker reports it.

    Under exactly-once, Faust 0.15 takes a changelog partition's end (the "highwater" it
    recovers up to) from aiokafka's last stable offset: a value cached from the last fetch of
    that partition, ``None`` on a consumer that has not fetched it yet, which Faust reads as an
    empty changelog. A worker taking over partitions then started with empty tables (no
    escalations, grants, sessions or profiles), in about one take-over in five on this
    machine. The broker is asked instead: ListOffsets at the consumer's ``read_committed``
    isolation answers the last stable offset itself.
    """
    thread = consumer._thread

    async def highwaters(partitions: Any) -> Any:
        return await thread._ensure_consumer().end_offsets(partitions)

    thread._highwaters = highwaters


class Emitter:
    """Produces a batch's outputs and state; under exactly-once, in the transaction that
    commits them with the offsets of the events they answer.

    Under ``exactly_once`` each input partition has its own transactional producer (Faust's,
    by transactional id). :meth:`emit` hands a batch's outputs to the producer of the input
    partition they answer, keeps the batch's state writes (:mod:`~clearance.streams.state`;
    the latest per key), records how far the partition's events are answered, acknowledges
    them and returns without waiting for the broker: the next batch is decided while this
    one is on the wire. Faust's periodic commit (``broker_commit_interval``) is routed
    through :meth:`_commit_transactions`: under the partition's lock it writes the state
    kept, puts the offset just past the last answered event into the transaction and
    commits it. Outputs, state and offsets commit together or not at all; a crash leaves
    the events since the last commit to be decided again from the state committed with
    them, their first outputs aborted.

    Faust's own path is not used because (faust-streaming 0.15) ``topic.send`` picks the
    transaction by the *output* key's partition; Faust computes the offsets to commit before
    it takes the transaction's lock; and table writes go through a buffer outside any batch.

    Under ``at_least_once`` everything goes through Faust's producer, which Faust flushes
    before it commits the consumer offsets.
    """

    def __init__(self, app: ClearanceApp, input_topics: Iterable[str] = ()) -> None:
        self.app = app
        self._transactional_ids: dict[tuple[str, int], str] = {}
        self.positions = InputPositions(app, input_topics)
        #: Open transactions by transactional id.
        self._open: dict[str, _OpenTransaction] = {}
        self._installed = False
        # mode's handler type wants an untyped ``signal`` keyword that mypy cannot match here.
        app.on_partitions_revoked.connect(self._on_partitions_revoked)  # type: ignore[arg-type]
        # Not app.in_transaction: Faust caches it, and it is False until the worker runs.
        app.consumer_hooks.append(self._install_positions)
        app.on_before_shutdown.connect(self._on_shutdown)  # type: ignore[arg-type]

    async def _on_shutdown(self, app: Any, *args: Any, **kwargs: Any) -> None:
        await self.positions.close()

    def _install_positions(self, consumer: Any) -> None:
        if self.app.in_transaction:
            self.positions.install(consumer)

    def _transactional_id(self, topic: str, partition: int) -> str:
        tid = self._transactional_ids.get((topic, partition))
        if tid is None:
            # Same format as faust.transport.consumer.TransactionManager.
            group = self.app.assignor.group_for_topic(topic)
            tid = f"{self.app.conf.id}-{group}-{partition}"
            self._transactional_ids[(topic, partition)] = tid
        return tid

    async def current(self, events: list[EventT]) -> list[EventT]:
        """The events of ``events`` this worker may decide now, in order.

        A batch collected by ``take_events`` can span a rebalance: events fetched before it
        stay in the batch although the consumer seeks every partition back to its committed
        offset and fetches them again. They are acknowledged and left out; their new copies
        are decided. Under exactly-once, :class:`~clearance.streams.positions.InputPositions`
        then admits each partition's events only in offset order from its committed offset,
        so an offset committed after them never passes an event not decided.
        """
        generation = self.app.consumer_generation_id
        fresh = []
        for event in events:
            if event.message.generation_id == generation:
                fresh.append(event)
            else:
                event.ack()
        if len(fresh) < len(events):
            log.info("left out %d events fetched before a rebalance", len(events) - len(fresh))
        if not self.app.in_transaction:
            return fresh
        admitted = await self.positions.admit(fresh)
        if len(admitted) < len(fresh):
            log.info(
                "left out %d events already decided or out of order", len(fresh) - len(admitted)
            )
        return admitted

    async def emit(
        self,
        outputs: list[OutputMessage],
        events: list[EventT],
        state: Sequence[StateWrite] = (),
    ) -> None:
        """Hand ``outputs`` and ``state`` (answering ``events``) to the producers.

        State writes belong to the input partition they name (their changelog partition).
        """
        if not self.app.in_transaction:
            await self._send_plain(outputs, state)
            for event in events:
                event.ack()
            return
        self._install()
        units: dict[tuple[str, int], _Unit] = defaultdict(_Unit)
        for event in events:
            units[(event.message.topic, event.message.partition)].events.append(event)
        topic = events[0].message.topic if events else None
        for out in outputs:
            units[(out.source.topic, out.source.partition)].outputs.append(out)
        for write in state:
            units[(topic or "", write.partition)].state.append(write)
        for (source_topic, partition), unit in units.items():
            try:
                await self._send_unit(
                    source_topic, partition, unit.outputs, unit.events, unit.state
                )
            except (ProducerFenced, IllegalOperation, TransactionUnavailable) as exc:
                # Another worker owns the partition now and holds its transactional id (the
                # fenced producer stays broken: IllegalOperation), so nothing of this unit
                # can commit: that worker decides these events again from the last committed
                # offset. Acknowledging them only releases Faust's bookkeeping; no offset of
                # a partition we lost is committed from here.
                log.warning(
                    "%s[%d]: abandoned %d events to the partition's new owner (%s)",
                    source_topic,
                    partition,
                    len(unit.events),
                    exc,
                )
                for event in unit.events:
                    event.ack()
                # Its events from here on wait for the seek of the next assignment.
                self.positions.forget([TopicPartition(source_topic, partition)])

    async def emit_unanswered(
        self,
        topic: str,
        partition: int,
        outputs: list[OutputMessage],
        state: Sequence[StateWrite] = (),
    ) -> bool:
        """Produce ``outputs`` and ``state`` that answer no input event (timers) in
        ``topic[partition]``'s transaction.

        Returns False (nothing sent) when this worker does not own the partition: its new
        owner produces them from the recovered state. If the transaction holds answered
        events not committed yet, these join it and commit with their offsets on the next
        interval; otherwise the transaction is committed at once.
        """
        if not self.app.in_transaction:
            await self._send_plain(outputs, state)
            await self.app.producer.flush()
            return True
        self._install()
        try:
            await self._send_unit(topic, partition, outputs, [], state)
        except (ProducerFenced, IllegalOperation, TransactionUnavailable) as exc:
            log.warning(
                "%s[%d]: timer outputs left to the partition's owner (%s)", topic, partition, exc
            )
            return False
        return True

    async def _send_plain(self, outputs: list[OutputMessage], state: Sequence[StateWrite]) -> None:
        send = self.app.producer.send
        for out in outputs:
            await send(out.topic, out.key, out.value, None, None, None)
        for write in state:
            await send(write.topic, write.key, write.value, write.partition, None, None)

    async def _send_unit(
        self,
        topic: str,
        partition: int,
        outputs: list[OutputMessage],
        events: list[EventT],
        state: Sequence[StateWrite],
    ) -> None:
        # Faust's aiokafka driver keeps one producer and one lock per transactional id.
        driver: Any = self.app.producer
        tid = self._transactional_id(topic, partition)
        lock = driver._trn_locks.get(tid)
        if lock is None:
            raise TransactionUnavailable(f"no transaction for {topic}[{partition}] here")
        async with lock:
            producer = driver._transaction_producers.get(tid)
            if producer is None:
                raise TransactionUnavailable(
                    f"no open transaction for {topic}[{partition}]: the partition was revoked "
                    "while its batch was in flight; its new owner decides it again"
                )
            manager = producer._txn_manager
            if manager.is_fatal_error():
                raise TransactionUnavailable(f"the producer of {topic}[{partition}] was fenced")
            if not manager.is_in_transaction():
                # Faust ends every transaction when a rebalance starts and begins them again
                # for the partitions assigned after it; a batch can fall in between.
                await producer.begin_transaction()
            txn = self._open.get(tid)
            if txn is None or txn.producer is not producer:
                # A new producer (after a rebalance): what the old one had open was aborted.
                txn = self._open[tid] = _OpenTransaction(producer)
            send = producer.send
            pending = txn.pending
            for out in outputs:
                pending.append(await send(out.topic, out.value, key=out.key))
            for write in state:
                txn.state[(write.topic, write.partition, write.key)] = write.value
            if events:
                txn.offsets[TopicPartition(topic, partition)] = events[-1].message.offset + 1
                for event in events:
                    event.ack()
            elif not txn.offsets:
                # Nothing answered waits in this transaction, so no commit of Faust's would
                # come for it: commit now.
                await self._finish(tid, txn, self.app.conf.id, start_new_transaction=True)

    def _install(self) -> None:
        """Route Faust's periodic transaction commit through :meth:`_commit_transactions`."""
        if self._installed:
            return
        driver: Any = self.app.producer

        async def commit_transactions(
            tid_to_offset_map: dict[str, dict[Any, int]],
            group_id: str,
            start_new_transaction: bool = True,
        ) -> None:
            # Faust's offsets are not used: it computes them before it waits for each
            # transaction's lock (a unit committed meanwhile would be moved back behind its
            # own decisions), and they include events abandoned to a partition's new owner.
            # Each open transaction commits the offsets recorded with its own units; the
            # partitions' transactions commit side by side.
            ours = [tid for tid in tid_to_offset_map if tid in self._open]
            if ours:
                await asyncio.gather(
                    *(
                        self._commit_transaction(tid, group_id, start_new_transaction)
                        for tid in ours
                    )
                )

        driver.commit_transactions = commit_transactions
        self._installed = True

    async def _on_partitions_revoked(self, app: Any, *args: Any, **kwargs: Any) -> None:
        """Close every transactional producer before this worker rejoins the group.

        Faust commits the open transactions when a rebalance starts; waiting for each
        transaction's lock lets a commit in flight finish, so the partition's next owner
        cannot read its offsets before that commit lands. Closing them all (a rebalance
        revokes every partition) means a partition assigned again gets a new producer, whose
        start fences the old owner's and waits for its open transaction to end; Faust would
        keep the producers of partitions that became standbys, and such a producer, fenced
        meanwhile, fails every unit.
        """
        self.positions.forget()
        driver: Any = self.app.producer
        for tid in list(driver._transaction_producers):
            async with driver._trn_locks[tid]:
                self._open.pop(tid, None)
                producer = driver._transaction_producers.pop(tid, None)
                if producer is not None:
                    await producer.stop()

    async def _commit_transaction(
        self, tid: str, group_id: str, start_new_transaction: bool
    ) -> None:
        driver: Any = self.app.producer
        async with driver._trn_locks[tid]:
            txn = self._open.get(tid)
            producer = driver._transaction_producers.get(tid)
            if txn is None or producer is None or txn.producer is not producer:
                # Revoked since: the new owner's producer fenced this transaction.
                self._open.pop(tid, None)
                return
            await self._finish(tid, txn, group_id, start_new_transaction)

    async def _finish(
        self, tid: str, txn: _OpenTransaction, group_id: str, start_new_transaction: bool
    ) -> None:
        """Write the kept state, the offsets, commit; called under the transaction's lock."""
        del self._open[tid]
        producer = txn.producer
        if producer._txn_manager.is_fatal_error():
            log.warning("%s: transaction abandoned to the partition's new owner (fenced)", tid)
            return
        try:
            for (topic, partition, key), value in txn.state.items():
                txn.pending.append(await producer.send(topic, value, key=key, partition=partition))
            if txn.offsets:
                await producer.send_offsets_to_transaction(txn.offsets, group_id)
            # aiokafka's commit sends every record still lingering in the producer before it
            # ends the transaction, and fails if the broker refused any of them.
            await producer.commit_transaction()
            failed = [f.exception() for f in txn.pending if f.done() and f.exception()]
            if failed or not all(f.done() for f in txn.pending):
                raise TransactionIncomplete(
                    f"{tid}: committed a transaction without all of its outputs: "
                    f"{failed[0] if failed else 'some still in flight'}"
                )
        except (ProducerFenced, IllegalOperation) as exc:
            log.warning("%s: transaction abandoned to the partition's new owner (%s)", tid, exc)
            return
        except Exception as exc:
            # Outputs the broker refused: nothing of the transaction may commit. The worker
            # stops; its partitions' events are decided again from the offsets committed
            # before.
            log.error("%s: transaction failed, stopping the worker: %s", tid, exc)
            await self.app.crash(exc)
            raise
        if start_new_transaction:
            await producer.begin_transaction()


@dataclass
class _Unit:
    """What one batch holds for one input partition."""

    events: list[EventT] = field(default_factory=list)
    outputs: list[OutputMessage] = field(default_factory=list)
    state: list[StateWrite] = field(default_factory=list)


@dataclass
class _OpenTransaction:
    """Outputs and state sent or kept in a transaction not committed yet, and the offsets
    of the events they answer."""

    producer: Any
    pending: list[Any] = field(default_factory=list)
    state: dict[tuple[str, int, bytes], bytes | None] = field(default_factory=dict)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)


class TransactionIncomplete(ClearanceError):
    """A transaction committed while one of its outputs had failed (must never happen)."""


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
        # Outputs become visible only when their transaction commits, and the commit sends
        # whatever still lingers: holding records until then costs no latency and turns one
        # produce request per few records into one per partition and commit.
        "producer_linger": settings.commit_interval_ms / 1000,
        "producer_max_batch_size": 512 * 1024,
        # A dead worker's open transaction hides the decisions behind it from read_committed
        # consumers until its partitions move on; Faust's default waits 60 s for that.
        "broker_session_timeout": 15.0,
        # Faust's recovery check compares a table partition's recovered offset with the
        # changelog's end, but an end it could not read comes back as -1 and -1 counts as
        # known (faust-streaming 0.15, tables/recovery.py), so a worker taking over a
        # partition it held as a standby stops with a ConsistencyError. Tables here live in
        # memory and are rebuilt from their changelogs, which the Emitter writes in the same
        # transactions as the offsets: nothing is left for the check to protect.
        "recovery_consistency_check": False,
    }


def _access_risk(app: faust.App, settings: Settings) -> tuple[AccessRisk, ChangelogState]:
    """Access scoring with its profiles in a changelog-backed table, by input partition."""
    from clearance.detectors import AccessModel, cold_start_model

    profiles = ChangelogState(app, "risk-profiles", settings.topic_partitions)
    model = (
        AccessModel.load(settings.access_model_path)
        if settings.access_model_path
        else cold_start_model()
    )
    # Profiles are written once per batch (the latest per key), in the batch's transaction.
    risk = AccessRisk(model, load=profiles.get, save=profiles.put, flush_interval_s=0.0)
    return risk, profiles


def _sessions(app: faust.App, settings: Settings) -> tuple[SessionState, ChangelogState]:
    """Open sessions in a changelog-backed table keyed by principal, by input partition."""
    table = ChangelogState(app, "sessions", settings.topic_partitions)
    sessions = SessionState(
        load=table.get,
        save=table.put,
        delete=table.delete,
        keys=table.keys,
        idle_seconds=settings.session_idle_timeout_s,
        limit=settings.sessions_per_principal,
    )
    actions_topic = settings.topic("actions")

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        sessions.forget_partitions({tp.partition for tp in revoked if tp.topic == actions_topic})

    app.clearance_sessions_state = table  # type: ignore[attr-defined]
    return sessions, table


def build_app(settings: Settings, policy: CompiledPolicy) -> faust.App:
    """Build the worker's Faust app for ``settings`` with ``policy`` in force."""
    app = ClearanceApp(settings.app_id, **faust_settings(settings))
    topics = TopicNames.with_prefix(settings.topic_prefix)
    actions = app.topic(
        settings.topic("actions"),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    risk, profiles = _access_risk(app, settings) if settings.detectors == "access" else (None, None)
    approvals = approval_gate(app, settings)
    approvals_state: ApprovalTables = app.clearance_approvals_state  # type: ignore[attr-defined]
    sessions, sessions_state = _sessions(app, settings)
    decider = Decider(
        policy,
        topics,
        settings.output_format,
        settings.max_message_bytes,
        risk=risk,
        approvals=approvals,
        revocations=RevocationEncoder.from_settings(settings),
        sessions=sessions,
    )
    # The topics whose agents take their events through emitter.current().
    emitter = Emitter(app, [settings.topic(n) for n in ("actions", "approvals", "model-events")])
    install_approvals(app, settings, approvals, decider, emitter)
    install_model_monitoring(app, settings, policy, emitter)
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
        async for taken in take(settings.batch_max_events, within=batch_wait):
            events = await emitter.current(taken)
            if not events:
                continue
            batch = [InputMessage.of(event) for event in events]
            outputs = decider.decide_batch(batch)
            state: list[StateWrite] = []
            if risk is not None and profiles is not None:
                risk.flush(force=True)
                state.extend(profiles.take())
            approvals.flush()
            state.extend(approvals_state.take())
            sessions.flush()
            state.extend(sessions_state.take())
            await emitter.emit(outputs, events, state)
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
