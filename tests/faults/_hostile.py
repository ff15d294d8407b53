"""A deterministic corpus of hostile input for the decoder, generated with hypothesis.

Each message is ``(key, value, kind)``; ``kind`` names the family it comes from. Nothing in
the corpus is a valid action event: every message must end as a dead letter.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from clearance.schemas import Codec
from clearance.traffic import TrafficGenerator

Message = tuple[bytes | None, bytes | None, str]

_TEMPLATES = list(TrafficGenerator(seed=5).events(64))
_AVRO = Codec("ActionEvent")
_ENCODED = [_AVRO.encode(event) for event in _TEMPLATES]
# Fields whose replacement by any of the values below cannot be a valid event.
_STRING_FIELDS = ("event_id", "action", "session_id")
_WRONG_VALUES = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.none(),
)


def _json(event: dict[str, Any]) -> bytes:
    return json.dumps(event, default=str).encode()


def _template(draw: Any) -> dict[str, Any]:
    event = json.loads(json.dumps(draw(st.sampled_from(_TEMPLATES)), default=str))
    assert isinstance(event, dict)
    return event


@st.composite
def _random_bytes(draw: Any) -> bytes:
    return bytes(draw(st.binary(max_size=300)))


@st.composite
def _truncated_avro(draw: Any) -> bytes:
    encoded = draw(st.sampled_from(_ENCODED))
    return bytes(encoded[: draw(st.integers(0, len(encoded) - 1))])


@st.composite
def _wrong_type(draw: Any) -> bytes:
    event = _template(draw)
    where = draw(st.sampled_from(("event_id", "action", "principal", "resource", "occurred_at")))
    if where in _STRING_FIELDS:
        event[where] = draw(_WRONG_VALUES)
    elif where == "occurred_at":
        event[where] = draw(st.one_of(st.lists(st.integers()), st.booleans(), st.none()))
    else:
        event[where] = draw(st.one_of(st.text(max_size=10), st.integers(), st.lists(st.none())))
    return _json(event)


@st.composite
def _huge_string(draw: Any, max_message_bytes: int) -> bytes:
    event = _template(draw)
    if draw(st.integers(0, 49)) == 0:
        # over the size limit: refused before parsing
        size = max_message_bytes + draw(st.integers(1, 65_536))
        event["event_id"] = "A" * size
    else:
        # within the limit, but where no huge string fits (an enum)
        event["principal"]["type"] = draw(st.sampled_from("xyz")) * draw(st.integers(1, 100_000))
    return _json(event)


@st.composite
def _deep_json(draw: Any) -> bytes:
    # past orjson's nesting limit (1024); now and then far past it
    depth = draw(
        st.integers(600, 2_000) if draw(st.integers(0, 99)) else st.integers(2_000, 100_000)
    )
    opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"))))
    nested = opener * depth + "1" + closer * depth
    if draw(st.booleans()):
        return nested.encode()
    event = _template(draw)
    head = _json({k: v for k, v in event.items() if k != "context"})[:-1]
    return head + b', "context": ' + nested.encode() + b"}"


@st.composite
def _unknown_enum(draw: Any) -> bytes:
    event = _template(draw)
    value = draw(st.text(min_size=1, max_size=20).filter(lambda t: t not in {"agent", "human"}))
    if draw(st.booleans()):
        event["principal"]["type"] = value + "-unknown"
    else:
        event["resource"]["sensitivity"] = value + "-unknown"
    return _json(event)


@st.composite
def _wrong_framing(draw: Any) -> bytes:
    body = draw(st.sampled_from(_ENCODED))[10:]
    header = draw(
        st.one_of(
            st.binary(min_size=4, max_size=4).map(lambda b: b"\x00" + b),  # registry framing
            st.binary(min_size=8, max_size=8).map(lambda b: b"\xc3\x01" + b),  # unknown schema
            st.binary(min_size=1, max_size=9).map(lambda b: b"\xc3" + b),  # bad marker
            st.just(b""),  # no header at all
        )
    )
    return bytes(header + body)


@st.composite
def hostile_message(draw: Any, max_message_bytes: int) -> Message:
    kind = draw(
        st.sampled_from(
            (
                "random_bytes",
                "truncated_avro",
                "wrong_types",
                "huge_string",
                "deep_json",
                "unknown_enum",
                "wrong_framing",
                "null_value",
            )
        )
    )
    if kind == "huge_string" and draw(st.integers(0, 39)):
        kind = "wrong_types"  # huge messages are kept rare: they cost a megabyte each
    value: bytes | None
    if kind == "random_bytes":
        value = draw(_random_bytes())
    elif kind == "truncated_avro":
        value = draw(_truncated_avro())
    elif kind == "wrong_types":
        value = draw(_wrong_type())
    elif kind == "huge_string":
        value = draw(_huge_string(max_message_bytes))
    elif kind == "deep_json":
        value = draw(_deep_json())
    elif kind == "unknown_enum":
        value = draw(_unknown_enum())
    elif kind == "wrong_framing":
        value = draw(_wrong_framing())
    else:
        value = draw(st.sampled_from((None, b"")))
    key = draw(st.one_of(st.none(), st.binary(max_size=40)))
    return key, value, kind


def hostile_corpus(count: int, max_message_bytes: int, send: Any, per_example: int = 50) -> None:
    """Hand ``count`` hostile messages to ``send(key, value, kind)`` as they are generated;
    the same messages on every run (derandomized hypothesis)."""
    sent = 0

    @settings(
        max_examples=(count + per_example - 1) // per_example,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(hostile_message(max_message_bytes), min_size=per_example, max_size=per_example))
    def collect(messages: list[Message]) -> None:
        nonlocal sent
        for key, value, kind in messages[: count - sent]:
            send(key, value, kind)
        sent += min(len(messages), count - sent)

    collect()
    assert sent == count, f"hypothesis generated {sent} of {count} messages"
