"""Converters of single values, value kinds and how messages show values."""

from __future__ import annotations

import math
from collections import OrderedDict
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from clearance.schemas._values import (
    FOR_AVRO,
    FOR_JSON,
    FROM_JSON,
    FieldError,
    binary_converter,
    enum_converter,
    key_segment,
    primitive_converter,
    show,
    timestamp_converter,
    value_kind,
)


def refused(convert: Any, value: Any) -> str:
    with pytest.raises(FieldError) as caught:
        convert(value)
    assert caught.value.code == "invalid_value"
    return caught.value.problem


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (False, "boolean"),
        (1, "integer"),
        (Fraction(1, 2), "number"),
        (Decimal("1.5"), "number"),
        (1.5, "number"),
        ("a", "string"),
        (OrderedDict(), "object"),
        ((1,), "array"),
        (bytearray(b"a"), "bytes"),
        (datetime(2026, 1, 1, tzinfo=UTC), "datetime"),
        (object(), "other"),
    ],
)
def test_value_kind(value: Any, kind: str) -> None:
    assert value_kind(value) == kind


def test_long_range_and_types() -> None:
    convert = primitive_converter("long", "a long", FROM_JSON)
    assert convert(-(2**63)) == -(2**63)
    assert "out of range" in refused(convert, 2**63)
    assert refused(convert, True) == "expected a long, got true"
    assert refused(convert, "1") == 'expected a long, got "1"'


def test_double_accepts_integers_and_nan_only_for_avro() -> None:
    assert primitive_converter("double", "a number", FROM_JSON)(3) == 3.0
    assert math.isinf(primitive_converter("double", "a number", FOR_AVRO)(math.inf))
    assert "no NaN" in refused(primitive_converter("double", "a number", FOR_JSON), math.nan)


def test_string_gives_plain_str() -> None:
    class Name(str):
        pass

    result = primitive_converter("string", "a string", FOR_AVRO)(Name("x"))
    assert result == "x" and type(result) is str


def test_enum() -> None:
    convert = enum_converter(["human", "agent"], "one of human, agent")
    assert convert("agent") == "agent"
    assert refused(convert, "Agent") == 'expected one of human, agent, got "Agent"'


def test_binary_modes() -> None:
    assert binary_converter(None, "bytes", FROM_JSON)("aGk=") == b"hi"
    assert binary_converter(None, "bytes", FOR_JSON)(b"hi") == "aGk="
    assert binary_converter(None, "bytes", FOR_AVRO)(memoryview(b"hi")) == b"hi"
    assert "not valid base64" in refused(binary_converter(None, "bytes", FROM_JSON), "aGk")


def test_timestamp_sources() -> None:
    from_json = timestamp_converter(FROM_JSON)
    for_avro = timestamp_converter(FOR_AVRO)
    moment = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert from_json("1970-01-01T00:00:01Z") == 1000 == for_avro(moment)
    assert "expected epoch milliseconds" in refused(from_json, moment)
    assert "out of range" in refused(from_json, 2**63)


def test_key_segment() -> None:
    assert key_segment("rows") == ".rows"
    assert key_segment("a.b") == '["a.b"]'


def test_show_cuts_long_values_and_never_fails() -> None:
    assert show("x" * 500) == '"' + "x" * 76 + "..."
    assert len(show(list(range(1000)))) == 80
    deep: Any = []
    for _ in range(2000):
        deep = [deep]
    assert show(deep).startswith("[[")
    assert show(b"\x00") == "b'\\x00'"
