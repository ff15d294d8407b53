"""The audit sink: decisions and dead letters from Kafka into the audit store, at least once.

Offsets are committed only after the store took the batch, synchronously and exactly for
the consumed messages. A crash between the insert and the commit redelivers the batch; the
store collapses it (ReplacingMergeTree on decision_id, and the per-batch dedup token drops
an exact replay at insert time). While the store fails, the consumer's partitions are
paused (memory stays bounded), the consumer keeps polling so it stays in its group, and the
insert is retried with capped exponential backoff, forever for transient failures; a fatal
failure (missing table, refused permission, fatal Kafka error) stops the sink with a clear
message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from clearance.audit._batch import AuditBatch, Decoder, build_batch
from clearance.audit._connect import connect
from clearance.audit._drill import StoreDrill
from clearance.audit._errors import AuditSinkError, AuditStoreError
from clearance.audit._schema import migrate
from clearance.audit._writer import AuditWriter

__all__ = ["AuditSink", "SinkStatus"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkStatus:
    """A snapshot of the sink's counters, for a status endpoint."""

    running: bool
    decisions_written: int
    dead_letters_written: int
    undecodable: int
    batches: int
    failures: int
    commit_failures: int
    #: "topic[partition]" -> the next offset to read, as last committed
    last_commit_offsets: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    last_batch_at: float | None = None

    @property
    def rows_written(self) -> int:
        """Decision and dead-letter rows written, redeliveries included."""
        return self.decisions_written + self.dead_letters_written

    def as_dict(self) -> dict[str, Any]:
        """Return every counter, ``rows_written`` included, for a JSON status answer."""
        return {**asdict(self), "rows_written": self.rows_written}


def _default_codecs(max_message_bytes: int) -> tuple[Decoder, Decoder]:
    from clearance.schemas.codec import Codec  # the codec is only needed by a running sink

    return (
        Codec("Decision", max_message_bytes=max_message_bytes),
        Codec("DeadLetter", max_message_bytes=max_message_bytes),
    )


def _approval_codec(max_message_bytes: int) -> Decoder:
    from clearance.schemas.codec import Codec

    return Codec("ApprovalOutcome", max_message_bytes=max_message_bytes)


def _policy_codec(max_message_bytes: int) -> Decoder:
    from clearance.schemas.codec import Codec

    # A pack's files can make a release larger than a decision.
    return Codec("PolicyRelease", max_message_bytes=max(max_message_bytes, 8 * 1_048_576))


class AuditSink:
    """Consume ``<prefix>decisions`` and ``<prefix>dead-letter`` into the audit store.

    Parameters
    ----------
    bootstrap
        Kafka bootstrap servers.
    topic_prefix
        Prefix of the topic names (``clearance.`` gives ``clearance.decisions``).
    group_id
        The sink's own consumer group.
    client, dsn
        The store: an open client, or a DSN to open (and close) in :meth:`run`. One is needed.
    batch_max_rows, batch_max_wait_ms
        A batch is written when it has this many messages or this long after it started.
    retry_initial_s, retry_max_s
        Backoff between failed inserts: doubling from the first up to the second.
    stop_event
        Set it to stop :meth:`run` after the current batch; a new Event when None.
    decision_codec, dead_letter_codec
        Decoders; ``clearance.schemas.codec.Codec("Decision")`` / ``("DeadLetter")`` when None.
    approval_codec
        Decoder of ``<prefix>approval-outcomes`` (``Codec("ApprovalOutcome")`` when None and
        the default codecs are used; with custom codecs and None, that topic is not read).
    max_message_bytes
        The default codecs' limit; a larger message is recorded as an ``oversized`` dead letter.
    consumer_config
        Extra librdkafka settings, applied over the sink's.
    consumer_factory
        Builds the consumer from its settings; ``confluent_kafka.Consumer`` when None.
    migrate_store
        Run :func:`migrate` on the store before consuming.
    drill
        A fault drill for the writer (see :class:`~clearance.audit._drill.StoreDrill`).
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        topic_prefix: str = "clearance.",
        group_id: str = "clearance-audit",
        client: Client | None = None,
        dsn: str | None = None,
        batch_max_rows: int = 5000,
        batch_max_wait_ms: int = 200,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        stop_event: threading.Event | None = None,
        decision_codec: Decoder | None = None,
        dead_letter_codec: Decoder | None = None,
        approval_codec: Decoder | None = None,
        max_message_bytes: int = 1_048_576,
        consumer_config: Mapping[str, Any] | None = None,
        consumer_factory: Callable[[dict[str, Any]], Consumer] | None = None,
        migrate_store: bool = True,
        drill: StoreDrill | None = None,
    ) -> None:
        if client is None and dsn is None:
            raise ValueError("AuditSink needs a client or a dsn")
        if batch_max_rows < 1 or batch_max_wait_ms < 1:
            raise ValueError("batch_max_rows and batch_max_wait_ms must be at least 1")
        self.decisions_topic = f"{topic_prefix}decisions"
        self.dead_letter_topic = f"{topic_prefix}dead-letter"
        self.approvals_topic = f"{topic_prefix}approval-outcomes"
        self.shadow_topic = f"{topic_prefix}shadow-decisions"
        self.policies_topic = f"{topic_prefix}policies"
        self.group_id = group_id
        self.batch_max_rows = batch_max_rows
        self.batch_max_wait_s = batch_max_wait_ms / 1000
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.stop_event = stop_event or threading.Event()
        self._client = client
        self._dsn = dsn
        self._codecs = (
            (decision_codec, dead_letter_codec)
            if decision_codec is not None and dead_letter_codec is not None
            else None
        )
        self._approval_codec = approval_codec
        self._max_message_bytes = max_message_bytes
        self._consumer_factory = consumer_factory or Consumer
        self._migrate = migrate_store
        self._drill = drill
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "client.id": "clearance-audit-sink",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "error_cb": self._on_kafka_error,
            **(consumer_config or {}),
        }
        self._carry: list[Message] = []
        self._fatal: KafkaError | None = None
        self._lock = threading.Lock()
        self._running = False
        self._decisions_written = 0
        self._dead_letters_written = 0
        self._undecodable = 0
        self._batches = 0
        self._failures = 0
        self._commit_failures = 0
        self._last_commit_offsets: dict[str, int] = {}
        self._last_error: str | None = None
        self._last_batch_at: float | None = None
        #: The exception that ended :meth:`run` in :meth:`start_thread`'s thread, if any.
        self.error: BaseException | None = None

    # ---- status -----------------------------------------------------------------------

    def status(self) -> SinkStatus:
        """Return a consistent snapshot of the counters."""
        with self._lock:
            return SinkStatus(
                running=self._running,
                decisions_written=self._decisions_written,
                dead_letters_written=self._dead_letters_written,
                undecodable=self._undecodable,
                batches=self._batches,
                failures=self._failures,
                commit_failures=self._commit_failures,
                last_commit_offsets=dict(self._last_commit_offsets),
                last_error=self._last_error,
                last_batch_at=self._last_batch_at,
            )

    def _note_failure(self, message: str, *, commit: bool = False) -> None:
        with self._lock:
            if commit:
                self._commit_failures += 1
            else:
                self._failures += 1
            self._last_error = message

    # ---- running ----------------------------------------------------------------------

    def start_thread(self) -> threading.Thread:
        """Run :meth:`run` in a daemon thread; a failure that ends it is kept in :attr:`error`."""
        thread = threading.Thread(target=self._run_keeping_error, name="clearance-audit-sink")
        thread.daemon = True
        thread.start()
        return thread

    def _run_keeping_error(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # kept for the thread owner to report
            self.error = exc
            logger.error("audit sink stopped: %s", exc)

    def run(self) -> None:
        """Consume, write and commit until :attr:`stop_event` is set.

        Raises
        ------
        AuditSinkError
            On a fatal Kafka error or a store failure that retrying cannot cure.
        AuditStoreError
            When the store cannot be opened or migrated.
        """
        decision_codec, dead_letter_codec = self._codecs or _default_codecs(self._max_message_bytes)
        approval_codec = self._approval_codec
        if approval_codec is None and self._codecs is None:
            approval_codec = _approval_codec(self._max_message_bytes)
        topics = [self.decisions_topic, self.dead_letter_topic]
        policy_codec = None
        if approval_codec is not None:
            # The default codecs: every topic the workers write for the audit trail.
            topics.append(self.approvals_topic)
            if self._codecs is None:
                policy_codec = _policy_codec(self._max_message_bytes)
                topics.extend([self.shadow_topic, self.policies_topic])
        owns_client = self._client is None
        client = self._client if self._client is not None else connect(str(self._dsn))
        try:
            if self._migrate:
                migrate(client)
            writer = AuditWriter(client, batch_max_rows=self.batch_max_rows, drill=self._drill)
            consumer = self._consumer_factory(dict(self._config))
            with self._lock:
                self._running = True
            try:
                consumer.subscribe(topics)
                logger.info("audit sink consuming %s as group %s", ", ".join(topics), self.group_id)
                while not self.stop_event.is_set():
                    messages = self._collect(consumer)
                    if not messages:
                        continue
                    batch = build_batch(
                        messages,
                        decisions_topic=self.decisions_topic,
                        decision_codec=decision_codec,
                        dead_letter_codec=dead_letter_codec,
                        approvals_topic=self.approvals_topic,
                        approval_codec=approval_codec,
                        shadow_topic=self.shadow_topic,
                        policies_topic=self.policies_topic,
                        policy_codec=policy_codec,
                    )
                    if not self._write(consumer, writer, batch):
                        break  # stopped while the store was failing: nothing committed
                    self._commit(consumer, batch)
            finally:
                with self._lock:
                    self._running = False
                consumer.close()
        finally:
            if owns_client:
                client.close()

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
        logger.warning("audit sink: Kafka reports %s", error)

    def _check_fatal(self) -> None:
        if self._fatal is not None:
            raise AuditSinkError(
                f"audit sink stops on a fatal Kafka error: {self._fatal.str()}. Fix: check the "
                "brokers and the consumer settings, then restart the worker"
            )

    def _accept(self, message: Message, into: list[Message]) -> None:
        error = message.error()
        if error is None:
            into.append(message)
            return
        if error.fatal():
            self._fatal = error
            self._check_fatal()
        if error.code() != KafkaError._PARTITION_EOF:
            logger.warning("audit sink: consumer error %s", error)

    def _collect(self, consumer: Consumer) -> list[Message]:
        messages, self._carry = self._carry, []
        deadline = time.monotonic() + self.batch_max_wait_s
        while len(messages) < self.batch_max_rows:
            self._check_fatal()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.stop_event.is_set():
                break
            for message in consumer.consume(self.batch_max_rows - len(messages), remaining):
                self._accept(message, messages)
        return messages

    def _write(self, consumer: Consumer, writer: AuditWriter, batch: AuditBatch) -> bool:
        token = batch.dedup_token()
        delay = self.retry_initial_s
        paused = False
        while True:
            try:
                writer.write_decisions(batch.decision_rows, token)
                writer.write_dead_letters(batch.dead_letter_rows, token)
                writer.write_approvals(batch.approval_rows, token)
                writer.write_shadow_decisions(batch.shadow_rows, token)
                writer.write_policies(batch.policy_rows, token)
                break
            except AuditStoreError as exc:
                self._note_failure(str(exc))
                if not exc.transient:
                    raise AuditSinkError(
                        f"audit sink stops: {exc}; offsets stay uncommitted, so the batch is "
                        "read again after the fix"
                    ) from exc
                logger.warning(
                    "audit sink: batch of %d messages not written, retrying in %.1f s: %s",
                    batch.message_count,
                    delay,
                    exc,
                )
                if not paused:
                    consumer.pause(consumer.assignment())
                    paused = True
                if not self._wait_paused(consumer, delay):
                    return False
                delay = min(delay * 2, self.retry_max_s)
        if paused:
            consumer.resume(consumer.assignment())
        with self._lock:
            self._decisions_written += len(batch.decision_rows)
            self._dead_letters_written += len(batch.dead_letter_rows)
            self._undecodable += batch.undecodable
            self._batches += 1
            self._last_batch_at = time.time()
        return True

    def _wait_paused(self, consumer: Consumer, seconds: float) -> bool:
        """Keep polling (group membership, rebalances) for ``seconds``; False when stopped."""
        deadline = time.monotonic() + seconds
        while not self.stop_event.is_set():
            self._check_fatal()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            message = consumer.poll(min(remaining, 0.5))
            if message is not None:
                # fetched before the pause took effect, or from a partition newly assigned
                self._accept(message, self._carry)
                consumer.pause(consumer.assignment())
        return False

    def _commit(self, consumer: Consumer, batch: AuditBatch) -> None:
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        offsets = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in sorted(batch.commit_offsets().items())
            if (topic, partition) in assigned
        ]
        if not offsets:
            return
        try:
            committed = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # the rows are stored; the messages come again and collapse in the store
            self._note_failure(f"offset commit failed: {exc}", commit=True)
            logger.warning("audit sink: offset commit failed (batch will be redelivered): %s", exc)
            return
        with self._lock:
            for tp in committed or offsets:
                if tp.error is None:
                    self._last_commit_offsets[f"{tp.topic}[{tp.partition}]"] = tp.offset
                else:
                    self._commit_failures += 1
                    self._last_error = f"offset commit failed for {tp.topic}[{tp.partition}]"
