"""Turn a list of Kafka messages into one audit batch: rows per table, offsets, a dedup token."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from clearance.audit._rows import (
    approval_row,
    dead_letter_row,
    decision_row,
    policy_row,
    undecodable_letter,
)

__all__ = ["AuditBatch", "Decoder", "KafkaMessage", "build_batch"]

logger = logging.getLogger(__name__)


class Decoder(Protocol):
    """What the sink needs of a codec: bytes in, record dict out, an exception on bad input.

    The exception's ``reason_code`` and ``reason`` attributes, when present, become the
    dead letter's; any exception is recorded, so a message never blocks the sink.
    """

    def decode(self, data: bytes) -> dict[str, Any]: ...


class KafkaMessage(Protocol):
    """The part of ``confluent_kafka.Message`` the batch uses."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> str | bytes | None: ...
    def value(self) -> str | bytes | None: ...


class _Tombstone(Exception):
    """A message with a null value; named like the codec's refusal of one."""

    reason_code = "empty"
    reason = "empty message (null value, a tombstone)"


@dataclass
class AuditBatch:
    """Rows for both tables from one run of consumed messages, and where those messages end."""

    decision_rows: list[tuple[Any, ...]] = field(default_factory=list)
    dead_letter_rows: list[tuple[Any, ...]] = field(default_factory=list)
    approval_rows: list[tuple[Any, ...]] = field(default_factory=list)
    shadow_rows: list[tuple[Any, ...]] = field(default_factory=list)
    policy_rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: (topic, partition) -> (first offset, last offset) seen in this batch
    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    undecodable: int = 0

    @property
    def message_count(self) -> int:
        """Messages covered (each gave exactly one row)."""
        return (
            len(self.decision_rows)
            + len(self.dead_letter_rows)
            + len(self.approval_rows)
            + len(self.shadow_rows)
            + len(self.policy_rows)
        )

    def dedup_token(self) -> str:
        """Name this batch by its offset ranges: a replay of the same messages has the same name."""
        parts = (
            f"{topic}[{partition}]{first}-{last}"
            for (topic, partition), (first, last) in sorted(self.ranges.items())
        )
        return "audit:" + ",".join(parts)

    def commit_offsets(self) -> dict[tuple[str, int], int]:
        """Return the offsets to commit: the next one to read, per partition."""
        return {tp: last + 1 for tp, (_, last) in self.ranges.items()}


def _as_bytes(data: str | bytes | None) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    return data.encode()


def build_batch(
    messages: Iterable[KafkaMessage],
    *,
    decisions_topic: str,
    decision_codec: Decoder,
    dead_letter_codec: Decoder,
    approvals_topic: str | None = None,
    approval_codec: Decoder | None = None,
    shadow_topic: str | None = None,
    policies_topic: str | None = None,
    policy_codec: Decoder | None = None,
) -> AuditBatch:
    """Decode messages into rows; every message yields exactly one row.

    Parameters
    ----------
    messages
        Messages without errors from the decisions and dead-letter topics.
    decisions_topic
        Messages from this topic are decisions; any other topic carries dead letters.
    decision_codec, dead_letter_codec
        Decoders for the two record kinds.
    approvals_topic, approval_codec
        Messages from this topic are approval outcomes, decoded with ``approval_codec``.
    shadow_topic
        Messages from this topic are shadow decisions (decoded with ``decision_codec``).
    policies_topic, policy_codec
        Messages from this topic are policy releases, decoded with ``policy_codec``.

    Returns
    -------
    AuditBatch
        A decision that cannot be decoded (or recorded) becomes a dead-letter row with the
        decoder's reason, the raw key and value, and the message's coordinates; the same
        for a dead letter that cannot be decoded.
    """
    batch = AuditBatch()
    for message in messages:
        topic = message.topic() or ""
        partition = message.partition() or 0
        offset = message.offset() or 0
        value = _as_bytes(message.value())
        is_shadow = shadow_topic is not None and topic == shadow_topic
        is_decision = topic == decisions_topic or is_shadow
        is_approval = approval_codec is not None and topic == approvals_topic
        is_policy = policy_codec is not None and topic == policies_topic
        codec = decision_codec if is_decision else dead_letter_codec
        try:
            if value is None:
                raise _Tombstone()
            if is_policy and policy_codec is not None:
                release = policy_codec.decode(value)
                batch.policy_rows.append(policy_row(release, partition, offset))
            elif is_shadow:
                record = codec.decode(value)
                batch.shadow_rows.append(decision_row(record, partition, offset))
            elif is_approval and approval_codec is not None:
                outcome = approval_codec.decode(value)
                batch.approval_rows.append(approval_row(outcome, partition, offset))
            elif is_decision:
                record = codec.decode(value)
                batch.decision_rows.append(decision_row(record, partition, offset))
            else:
                record = codec.decode(value)
                batch.dead_letter_rows.append(dead_letter_row(record, topic, partition, offset))
        except Exception as exc:  # every failure becomes a recorded dead letter
            batch.undecodable += 1
            kind = (
                "decision"
                if is_decision
                else "approval outcome"
                if is_approval
                else "policy release"
                if is_policy
                else "dead letter"
            )
            code = getattr(exc, "reason_code", None) or "undecodable"
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            logger.warning(
                "audit sink: %s at %s[%d]@%d cannot be recorded (%s): %s",
                kind,
                topic,
                partition,
                offset,
                code,
                reason,
            )
            letter = undecodable_letter(
                topic=topic,
                partition=partition,
                offset=offset,
                key=_as_bytes(message.key()),
                value=value,
                reason_code=str(code),
                reason=f"audit sink could not record this {kind}: {reason}",
            )
            batch.dead_letter_rows.append(dead_letter_row(letter, topic, partition, offset))
        first, last = batch.ranges.get((topic, partition), (offset, offset))
        batch.ranges[(topic, partition)] = (min(first, offset), max(last, offset))
    return batch
