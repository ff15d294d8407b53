"""Codec: wire formats in and out, interoperability with the reference Avro library, errors."""

from __future__ import annotations

import base64
import copy
import io
import json
import math
import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any

import avro.io
import avro.schema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearance.errors import ClearanceError, ConfigError
from clearance.schemas import (
    DECODE_REASON_CODES,
    SCHEMA_NAMES,
    SINGLE_OBJECT_MARKER,
    Codec,
    DecodeError,
    EncodeError,
    UnknownSchemaError,
    fingerprint,
    schema_info,
)

T0 = 1_795_428_000_000  # 2026-11-23T10:00:00Z
CODECS = {name: Codec(name) for name in SCHEMA_NAMES}
ACTIONS = CODECS["ActionEvent"]


def reference_schema(kind: str) -> avro.schema.Schema:
    """The kind's schema as the reference library parses its canonical form (no logical types)."""
    return avro.schema.parse(schema_info(kind).canonical_form)


def reference_encode(kind: str, record: dict[str, Any], schema_json: str | None = None) -> bytes:
    """Single-object encoding built per the Avro spec with the reference library."""
    schema = reference_schema(kind)
    writer_schema = avro.schema.parse(schema_json) if schema_json else schema
    stream = io.BytesIO()
    stream.write(SINGLE_OBJECT_MARKER + schema.fingerprint("CRC-64-AVRO"))
    avro.io.DatumWriter(writer_schema).write(record, avro.io.BinaryEncoder(stream))
    return stream.getvalue()


def reference_decode(kind: str, data: bytes) -> dict[str, Any]:
    """Decode single-object encoding with the reference library, checking header and length."""
    schema = reference_schema(kind)
    assert data[:2] == SINGLE_OBJECT_MARKER
    assert data[2:10] == schema.fingerprint("CRC-64-AVRO")
    stream = io.BytesIO(data[10:])
    result = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(stream))
    assert isinstance(result, dict)
    assert stream.tell() == len(data) - 10, "reference reader left bytes over"
    return result


def json_of(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


def decode_error(data: bytes | None, codec: Codec = ACTIONS) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        codec.decode(data)
    return caught.value


# Round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["avro", "json"])
def test_every_kind_round_trips(kind: str, record: dict[str, Any], fmt: str) -> None:
    codec = CODECS[kind]
    encoded = codec.encode(record, fmt)
    assert codec.decode(encoded) == record
    assert list(codec.decode(encoded)) == [f["name"] for f in schema_info(kind).parsed["fields"]]


def test_avro_output_starts_with_marker_and_fingerprint(kind: str, record: dict[str, Any]) -> None:
    encoded = CODECS[kind].encode(record)
    assert encoded[:2] == b"\xc3\x01"
    assert encoded[2:10] == fingerprint(kind)


def test_json_output_is_plain_json(kind: str, record: dict[str, Any]) -> None:
    plain = json.loads(CODECS[kind].encode(record, "json"))
    expected = copy.deepcopy(record)
    for name in ("key", "value"):
        if isinstance(expected.get(name), bytes):
            expected[name] = base64.b64encode(expected[name]).decode()
    assert plain == expected


def test_example_json_event_decodes(action_event_json: bytes, action_event: dict) -> None:
    assert ACTIONS.decode(action_event_json) == action_event


def test_avro_and_json_decode_to_the_same_shape(action_event_json: bytes) -> None:
    from_json = ACTIONS.decode(action_event_json)
    from_avro = ACTIONS.decode(ACTIONS.encode(from_json))
    assert from_avro == from_json
    assert type(from_avro["occurred_at"]) is int
    assert type(from_avro["principal"]["type"]) is str


def test_json_fills_defaults_of_optional_fields() -> None:
    minimal = {
        "event_id": "e1",
        "occurred_at": T0,
        "principal": {"id": "user:alice", "type": "human"},
        "action": "data.read",
        "resource": {"type": "dataset", "id": "orders", "environment": "dev"},
    }
    assert ACTIONS.decode(json_of(minimal)) == {
        "event_id": "e1",
        "occurred_at": T0,
        "principal": {"id": "user:alice", "type": "human", "roles": [], "on_behalf_of": None},
        "action": "data.read",
        "resource": {
            "type": "dataset",
            "id": "orders",
            "environment": "dev",
            "sensitivity": "internal",
        },
        "session_id": None,
        "source": None,
        "data_bytes": None,
        "context": {},
    }


def test_default_containers_are_not_shared(action_event: dict) -> None:
    del action_event["context"]
    first = ACTIONS.decode(json_of(action_event))
    first["context"]["tampered"] = True
    assert ACTIONS.decode(json_of(action_event))["context"] == {}


def test_json_ignores_unknown_fields_at_every_level(action_event: dict) -> None:
    extended = copy.deepcopy(action_event)
    extended["schema_v2_field"] = {"nested": [1, 2]}
    extended["principal"]["mfa"] = True
    assert ACTIONS.decode(json_of(extended)) == action_event


def test_json_accepts_leading_whitespace(action_event_json: bytes, action_event: dict) -> None:
    assert ACTIONS.decode(b" \r\n\t" + action_event_json) == action_event


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        (T0, T0),
        ("2026-11-23T10:00:00Z", T0),
        ("2026-11-23T11:30:00+01:30", T0),
        ("2026-11-23t10:00:00.123z", T0 + 123),
        ("2026-11-23 10:00:00.9999-00:00", T0 + 999),
        ("1969-12-31T23:59:59.500Z", -500),
    ],
)
def test_json_timestamps_become_epoch_millis(action_event: dict, value: Any, millis: int) -> None:
    action_event["occurred_at"] = value
    assert ACTIONS.decode(json_of(action_event))["occurred_at"] == millis


def test_json_bytes_are_base64(records: dict) -> None:
    dead_letters = CODECS["DeadLetter"]
    record = copy.deepcopy(records["DeadLetter"])
    text = dead_letters.encode(record, "json")
    assert json.loads(text)["value"] == base64.b64encode(record["value"]).decode()
    assert dead_letters.decode(text)["value"] == record["value"]


def test_json_integers_are_accepted_for_doubles(records: dict) -> None:
    decision = copy.deepcopy(records["Decision"])
    decision["latency_ms"] = 2
    decoded = CODECS["Decision"].decode(json_of(decision))
    assert decoded["latency_ms"] == 2.0 and type(decoded["latency_ms"]) is float


# Interoperability with the reference Avro library ----------------------------------------------


def test_reference_library_output_decodes(kind: str, record: dict[str, Any]) -> None:
    assert CODECS[kind].decode(reference_encode(kind, record)) == record


def test_reference_library_with_logical_types_decodes(action_event: dict) -> None:
    # A publisher using the .avsc as shipped writes datetimes for timestamp-millis fields.
    declared = json.dumps(dict(schema_info("ActionEvent").declared))
    moment = datetime(2026, 11, 23, 10, 0, 0, 250_000, tzinfo=UTC)
    written = reference_encode("ActionEvent", {**action_event, "occurred_at": moment}, declared)
    assert ACTIONS.decode(written) == {**action_event, "occurred_at": T0 + 250}


def test_our_output_decodes_with_reference_library(kind: str, record: dict[str, Any]) -> None:
    assert reference_decode(kind, CODECS[kind].encode(record)) == record


# Encoding ---------------------------------------------------------------------------------------


def test_encode_accepts_rfc3339_and_aware_datetimes(action_event: dict) -> None:
    for moment in (
        "2026-11-23T10:00:00Z",
        datetime(2026, 11, 23, 11, tzinfo=timezone(timedelta(hours=1))),
    ):
        encoded = ACTIONS.encode({**action_event, "occurred_at": moment})
        assert ACTIONS.decode(encoded)["occurred_at"] == T0


def test_encode_accepts_tuples_and_str_enums(action_event: dict) -> None:
    # (str, Enum) rather than StrEnum: its str() is "PrincipalType.AGENT", not the value.
    class PrincipalType(str, Enum):  # noqa: UP042
        AGENT = "agent"

    action_event["principal"] = {
        **action_event["principal"],
        "type": PrincipalType.AGENT,
        "roles": ("data-engineer",),
    }
    decoded = ACTIONS.decode(ACTIONS.encode(action_event))
    assert decoded["principal"]["type"] == "agent" and type(decoded["principal"]["type"]) is str
    assert decoded["principal"]["roles"] == ["data-engineer"]


def test_encode_fills_defaults(records: dict) -> None:
    revocation = copy.deepcopy(records["Revocation"])
    for optional in ("session_id", "grant_id", "action", "resource", "rule_ids", "decision_id"):
        del revocation[optional]
    decoded = CODECS["Revocation"].decode(CODECS["Revocation"].encode(revocation))
    assert decoded["action"] == "*" and decoded["rule_ids"] == [] and decoded["resource"] is None


def test_nan_survives_avro_but_not_json(records: dict) -> None:
    decisions = CODECS["Decision"]
    decision = {**records["Decision"], "latency_ms": math.nan}
    assert math.isnan(decisions.decode(decisions.encode(decision))["latency_ms"])
    with pytest.raises(EncodeError) as caught:
        decisions.encode(decision, "json")
    assert caught.value.field == "latency_ms"
    assert "NaN" in caught.value.reason


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        (lambda r: r["principal"].pop("type"), "principal.type", "required field is missing"),
        (lambda r: r["resource"].update(sensitivity="secret"), "resource.sensitivity", '"secret"'),
        (lambda r: r.update(sesion_id="s-1"), "sesion_id", "not a field of ActionEvent"),
        (lambda r: r.update(data_bytes=2**63), "data_bytes", "out of range"),
        (lambda r: r["principal"]["roles"].append(7), "principal.roles[1]", "got 7"),
        (lambda r: r.update(occurred_at=datetime(2026, 1, 1)), "occurred_at", "naive datetime"),
        (lambda r: r["context"].update(blob=b"\x00"), "context.blob", "expected null"),
    ],
)
def test_encode_refuses_records_that_do_not_fit(
    action_event: dict, change: Callable[[dict], Any], field: str, fragment: str
) -> None:
    change(action_event)
    for fmt in ("avro", "json"):
        with pytest.raises(EncodeError) as caught:
            ACTIONS.encode(action_event, fmt)
        error = caught.value
        assert error.field == field
        assert error.reason.startswith(f"{field}: ")
        assert fragment in error.reason
        assert isinstance(error, ClearanceError)


def test_encode_refuses_unknown_format(action_event: dict) -> None:
    with pytest.raises(EncodeError, match="fmt must be 'avro' or 'json', not 'xml'"):
        ACTIONS.encode(action_event, "xml")


def test_encode_refuses_a_non_record() -> None:
    with pytest.raises(EncodeError, match="ActionEvent record: expected an object"):
        ACTIONS.encode(["not", "a", "dict"])  # type: ignore[arg-type]


# Decode errors: every reason code -----------------------------------------------------------------


def test_every_reason_code_is_documented() -> None:
    assert {
        "undecodable",
        "oversized",
        "registry_framing",
        "unknown_schema",
        "schema_mismatch",
        "missing_field",
        "invalid_value",
        "empty",
    } == DECODE_REASON_CODES


@pytest.mark.parametrize("data", [None, b""])
def test_empty(data: bytes | None) -> None:
    err = decode_error(data)
    assert err.reason_code == "empty" and err.field is None


def test_oversized_is_checked_before_parsing() -> None:
    codec = Codec("ActionEvent", max_message_bytes=64)
    err = decode_error(b"\xff" * 65, codec)
    assert err.reason_code == "oversized"
    assert "65 bytes" in err.reason and "64" in err.reason


def test_message_at_the_limit_is_not_oversized(action_event_json: bytes) -> None:
    codec = Codec("ActionEvent", max_message_bytes=len(action_event_json))
    assert codec.decode(action_event_json)["event_id"].startswith("6f1c")


def test_registry_framing_names_the_schema_id(action_event: dict) -> None:
    body = ACTIONS.encode(action_event)[10:]
    err = decode_error(b"\x00" + (42).to_bytes(4, "big") + body)
    assert err.reason_code == "registry_framing"
    assert err.reason == (
        "Confluent Schema Registry framing (schema id 42) but no schema registry is configured; "
        "publish with Avro single-object encoding or JSON"
    )


def test_unknown_schema_names_the_fingerprint(action_event: dict) -> None:
    body = ACTIONS.encode(action_event)[10:]
    err = decode_error(SINGLE_OBJECT_MARKER + bytes.fromhex("0102030405060708") + body)
    assert err.reason_code == "unknown_schema"
    assert "0102030405060708" in err.reason
    assert fingerprint("ActionEvent").hex() in err.reason


def test_schema_mismatch_names_both_schemas(records: dict) -> None:
    err = decode_error(CODECS["Decision"].encode(records["Decision"]))
    assert err.reason_code == "schema_mismatch"
    assert "clearance.v1.Decision" in err.reason and "clearance.v1.ActionEvent" in err.reason
    assert fingerprint("Decision").hex() in err.reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("event_id"), "event_id"),
        (lambda r: r["principal"].pop("type"), "principal.type"),
        (lambda r: r["resource"].pop("environment"), "resource.environment"),
    ],
)
def test_missing_field_names_the_path(
    action_event: dict, change: Callable[[dict], Any], field: str
) -> None:
    change(action_event)
    err = decode_error(json_of(action_event))
    assert err.reason_code == "missing_field"
    assert err.field == field
    assert err.reason.startswith(f"{field}: required field is missing")


@pytest.mark.parametrize(
    ("change", "field", "shown"),
    [
        (lambda r: r["principal"].update(type="robot"), "principal.type", '"robot"'),
        (lambda r: r["principal"].update(roles="admin"), "principal.roles", '"admin"'),
        (lambda r: r["principal"]["roles"].append(None), "principal.roles[1]", "null"),
        (lambda r: r.update(event_id=17), "event_id", "17"),
        (lambda r: r.update(data_bytes="10"), "data_bytes", '"10"'),
        (lambda r: r.update(data_bytes=1.5), "data_bytes", "1.5"),
        (lambda r: r.update(occurred_at="yesterday"), "occurred_at", '"yesterday"'),
        (lambda r: r.update(occurred_at="2026-11-23T10:00:00"), "occurred_at", "offset"),
        (lambda r: r.update(occurred_at="2026-02-30T10:00:00Z"), "occurred_at", "day is out"),
        (lambda r: r.update(occurred_at=True), "occurred_at", "true"),
        (lambda r: r.update(occurred_at=1.7e12), "occurred_at", "1700000000000.0"),
        (lambda r: r["context"].update(rows={"a": 1}), "context.rows", '{"a":1}'),
        (lambda r: r["context"].update(ids=[1, 2]), "context.ids", "[1,2]"),
        (lambda r: r["context"].update({"a b": [1]}), 'context["a b"]', "[1]"),
        (lambda r: r.update(context=None), "context", "null"),
        (lambda r: r.update(resource=[]), "resource", "[]"),
    ],
)
def test_invalid_value_names_path_and_value(
    action_event: dict, change: Callable[[dict], Any], field: str, shown: str
) -> None:
    change(action_event)
    err = decode_error(json_of(action_event))
    assert err.reason_code == "invalid_value"
    assert err.field == field
    assert err.reason.startswith(f"{field}: ")
    assert shown in err.reason


def test_invalid_base64_names_the_field(records: dict) -> None:
    plain = json.loads(CODECS["DeadLetter"].encode(records["DeadLetter"], "json"))
    plain["value"] = "not base64!"
    err = decode_error(json_of(plain), CODECS["DeadLetter"])
    assert (err.reason_code, err.field) == ("invalid_value", "value")
    assert "base64" in err.reason


def test_long_values_are_cut_in_reasons(action_event: dict) -> None:
    action_event["principal"]["type"] = "x" * 5000
    err = decode_error(json_of(action_event))
    assert err.reason_code == "invalid_value"
    assert '"xxxx' in err.reason and "..." in err.reason
    assert len(err.reason) < 250


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"event_id": "e1",', "invalid JSON"),
        (b'{"event_id": "\xff"}', "invalid JSON"),
        (b"{" * 3000, "invalid JSON"),
        (b'{"a":' * 1500 + b"1" + b"}" * 1500, "invalid JSON"),
        (b"[1, 2]", "JSON array where a JSON object (ActionEvent) is expected"),
        (b' "text"', "JSON string where a JSON object"),
        (b"42", "JSON number where a JSON object"),
        (b"   \n", "whitespace only"),
        (b"\xff\xfe{}", "byte 0 is 0xff"),
        (b"  <xml/>", "byte 2 is 0x3c"),
        (b"\x00\x00\x01", "only 3 bytes"),
        (b"\xc3\x01\x92\x18", "header is cut short"),
        (b"\xc3\x02abcdefgh", "byte 1 is 0x02"),
    ],
)
def test_undecodable_says_what_is_wrong(data: bytes, fragment: str) -> None:
    err = decode_error(data)
    assert err.reason_code == "undecodable"
    assert fragment in err.reason


def test_truncated_avro_body_is_undecodable(action_event: dict) -> None:
    encoded = ACTIONS.encode(action_event)
    for cut in (11, len(encoded) // 2, len(encoded) - 1):
        err = decode_error(encoded[:cut])
        assert err.reason_code == "undecodable"
        assert f"of {cut}" in err.reason


def test_trailing_bytes_are_undecodable(action_event: dict) -> None:
    encoded = ACTIONS.encode(action_event)
    err = decode_error(encoded + b"\x00\x00")
    assert err.reason_code == "undecodable"
    assert f"ends at byte {len(encoded)}" in err.reason and "2 trailing bytes" in err.reason


def test_invalid_utf8_in_avro_string_is_undecodable() -> None:
    header = SINGLE_OBJECT_MARKER + fingerprint("ActionEvent")
    # event_id: length 2 (zigzag 4), then bytes that are not UTF-8.
    err = decode_error(header + b"\x04\xff\xfe" + b"\x00" * 30)
    assert err.reason_code == "undecodable"
    assert "UnicodeDecodeError" in err.reason


def test_decode_error_survives_pickling() -> None:
    err = decode_error(b"[]")
    copied = pickle.loads(pickle.dumps(err))
    assert (copied.reason_code, copied.reason, copied.field) == (
        err.reason_code,
        err.reason,
        err.field,
    )


def test_codec_refuses_unknown_kind_and_bad_limit() -> None:
    with pytest.raises(UnknownSchemaError, match="'Action'"):
        Codec("Action")
    with pytest.raises(ConfigError, match="max_message_bytes"):
        Codec("ActionEvent", max_message_bytes=0)


# Properties -----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def json_text(value: Any) -> bytes:
    # The standard library writes integers of any size, which orjson refuses to.
    return json.dumps(value, ensure_ascii=False).encode()


def decodes_or_refuses(codec: Codec, data: bytes) -> None:
    try:
        decoded = codec.decode(data)
    except DecodeError as err:
        assert err.reason_code in DECODE_REASON_CODES
        assert err.reason
        if err.reason_code in ("missing_field", "invalid_value"):
            assert err.field is not None and err.reason.startswith(f"{err.field}: ")
    else:
        assert isinstance(decoded, dict)


@given(st.binary(max_size=300))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    decodes_or_refuses(ACTIONS, data)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(SCHEMA_NAMES)), st.binary(max_size=300))
def test_random_avro_bodies_only_raise_decode_error(kind: str, body: bytes) -> None:
    decodes_or_refuses(CODECS[kind], SINGLE_OBJECT_MARKER + fingerprint(kind) + body)


@given(st.sampled_from(sorted(SCHEMA_NAMES)), JSON_VALUES)
def test_random_json_only_raises_decode_error(kind: str, value: Any) -> None:
    decodes_or_refuses(CODECS[kind], json_text(value))


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(paths_of(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(paths_of(item, (*prefix, index)))
    return found


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), replacement=JSON_VALUES)
def test_mutated_events_only_raise_decode_error(
    records: dict, data: st.DataObject, replacement: Any
) -> None:
    kind = data.draw(st.sampled_from(sorted(SCHEMA_NAMES)))
    plain = json.loads(CODECS[kind].encode(records[kind], "json"))
    path = data.draw(st.sampled_from(paths_of(plain)))
    target = plain
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = replacement
    decodes_or_refuses(CODECS[kind], json_text(plain))


def values_of(schema: Any, named: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Valid plain values of a fastavro-parsed schema, in the decoded shape."""
    if isinstance(schema, list):
        return st.one_of([values_of(branch, named) for branch in schema])
    if isinstance(schema, str) and schema in named:
        return named[schema]
    kind = schema if isinstance(schema, str) else schema["type"]
    simple: dict[str, st.SearchStrategy[Any]] = {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "double": st.floats(allow_nan=False, allow_infinity=False),
        "string": st.text(max_size=12),
        "bytes": st.binary(max_size=12),
    }
    if kind in simple:
        return simple[kind]
    if kind == "enum":
        named[schema["name"]] = st.sampled_from(schema["symbols"])
        return named[schema["name"]]
    if kind == "array":
        return st.lists(values_of(schema["items"], named), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), values_of(schema["values"], named), max_size=3)
    assert kind == "record", kind
    fields = {f["name"]: values_of(f["type"], named) for f in schema["fields"]}
    named[schema["name"]] = st.fixed_dictionaries(fields)
    return named[schema["name"]]


VALID_RECORDS = st.sampled_from(sorted(SCHEMA_NAMES)).flatmap(
    lambda kind: st.tuples(st.just(kind), values_of(schema_info(kind).parsed, {}))
)


@settings(max_examples=150)
@given(VALID_RECORDS)
def test_any_valid_record_round_trips_through_both_formats(kind_and_record: tuple) -> None:
    kind, record = kind_and_record
    codec = CODECS[kind]
    assert codec.decode(codec.encode(record, "avro")) == record
    assert codec.decode(codec.encode(record, "json")) == record
    assert reference_decode(kind, codec.encode(record, "avro")) == record
