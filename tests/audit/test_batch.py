"""build_batch(): one row per message, undecodable messages as dead letters, the batch token."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from clearance.audit import DEAD_LETTER_COLUMNS, DECISION_COLUMNS, build_batch

DecisionFactory = Callable[..., dict[str, Any]]


class BadInput(Exception):
    """Shaped like the codec's DecodeError."""

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason


class JsonCodec:
    def decode(self, data: bytes) -> dict[str, Any]:
        try:
            record = json.loads(data)
        except ValueError as exc:
            raise BadInput("undecodable", f"not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise BadInput("schema_mismatch", "not a record")
        return record


class Msg:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        self._coords = (topic, partition, offset)
        self._value = value

    def topic(self) -> str:
        return self._coords[0]

    def partition(self) -> int:
        return self._coords[1]

    def offset(self) -> int:
        return self._coords[2]

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes | None:
        return self._value


def _batch(messages: list[Msg]) -> Any:
    return build_batch(
        messages,
        decisions_topic="c.decisions",
        decision_codec=JsonCodec(),
        dead_letter_codec=JsonCodec(),
    )


def test_each_message_gives_one_row_in_its_table(make_decision: DecisionFactory) -> None:
    letter = {
        "dead_letter_id": "c.actions[0]@5",
        "failed_at": 1,
        "reason_code": "missing_field",
        "reason": "principal.id is missing",
        "source_topic": "c.actions",
        "source_partition": 0,
        "source_offset": 5,
        "key": None,
        "value": None,
        "value_size": 10,
    }
    batch = _batch(
        [
            Msg("c.decisions", 0, 10, json.dumps(make_decision(1)).encode()),
            Msg("c.decisions", 1, 3, json.dumps(make_decision(2)).encode()),
            Msg("c.dead-letter", 0, 7, json.dumps(letter).encode()),
        ]
    )
    assert [
        dict(zip(DECISION_COLUMNS, r, strict=True))["decision_id"] for r in batch.decision_rows
    ] == [
        "dec-1",
        "dec-2",
    ]
    stored_letter = dict(zip(DEAD_LETTER_COLUMNS, batch.dead_letter_rows[0], strict=True))
    assert stored_letter["reason_code"] == "missing_field"
    assert (stored_letter["letter_topic"], stored_letter["letter_offset"]) == ("c.dead-letter", 7)
    assert batch.undecodable == 0
    assert batch.message_count == 3


def test_an_undecodable_decision_becomes_a_dead_letter_with_the_codec_reason() -> None:
    batch = _batch([Msg("c.decisions", 2, 40, b"\x00garbage")])
    assert batch.decision_rows == []
    letter = dict(zip(DEAD_LETTER_COLUMNS, batch.dead_letter_rows[0], strict=True))
    assert letter["reason_code"] == "undecodable"
    assert letter["reason"].startswith("audit sink could not record this decision: not JSON")
    assert letter["value"] == b"\x00garbage"
    assert letter["key"] == b"k"
    assert letter["value_size"] == 8
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        "c.decisions",
        2,
        40,
    )
    assert letter["dead_letter_id"] == "c.decisions[2]@40"
    assert batch.undecodable == 1


def test_a_decoded_decision_missing_a_field_becomes_a_dead_letter() -> None:
    batch = _batch([Msg("c.decisions", 0, 1, b'{"decision_id": "d"}')])
    letter = dict(zip(DEAD_LETTER_COLUMNS, batch.dead_letter_rows[0], strict=True))
    assert letter["reason_code"] == "undecodable"
    assert "KeyError" in letter["reason"]


def test_an_undecodable_dead_letter_and_a_tombstone_are_recorded_too() -> None:
    batch = _batch([Msg("c.dead-letter", 0, 1, b"[1]"), Msg("c.decisions", 0, 2, None)])
    reasons = [
        dict(zip(DEAD_LETTER_COLUMNS, r, strict=True))["reason"] for r in batch.dead_letter_rows
    ]
    assert reasons[0] == "audit sink could not record this dead letter: not a record"
    assert "tombstone" in reasons[1]
    codes = [
        dict(zip(DEAD_LETTER_COLUMNS, r, strict=True))["reason_code"]
        for r in batch.dead_letter_rows
    ]
    assert codes == ["schema_mismatch", "empty"]
    assert batch.undecodable == 2


def test_the_token_and_the_commit_offsets_follow_the_offset_ranges(
    make_decision: DecisionFactory,
) -> None:
    value = json.dumps(make_decision()).encode()
    messages = [Msg("c.decisions", p, o, value) for p, o in [(1, 5), (0, 8), (1, 6), (0, 9)]]
    batch = _batch(messages)
    assert batch.dedup_token() == "audit:c.decisions[0]8-9,c.decisions[1]5-6"
    assert batch.commit_offsets() == {("c.decisions", 0): 10, ("c.decisions", 1): 7}
    assert _batch(list(reversed(messages))).dedup_token() == batch.dedup_token()
