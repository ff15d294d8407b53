"""Converters compiled from schemas: modes, union choice, paths, defaults, messages."""

from __future__ import annotations

from typing import Any

import fastavro
import pytest

from clearance.schemas._compile import compile_converter
from clearance.schemas._values import (
    FOR_AVRO,
    FOR_JSON,
    FROM_JSON,
    Converter,
    FieldError,
    ValueMode,
)


def converter(fields: list[Any], mode: ValueMode = FROM_JSON) -> Converter:
    schema = fastavro.parse_schema({"type": "record", "name": "t.Thing", "fields": fields})
    return compile_converter(schema, mode)


def field_error(convert: Converter, value: Any) -> FieldError:
    with pytest.raises(FieldError) as caught:
        convert(value)
    return caught.value


SCALARS = ["null", "boolean", "long", "double", "string"]


@pytest.mark.parametrize(
    ("value", "expected", "kind"),
    [(None, None, type(None)), (True, True, bool), (3, 3, int), (3.0, 3.0, float), ("3", "3", str)],
)
def test_union_picks_the_branch_of_the_value(value: Any, expected: Any, kind: type) -> None:
    convert = converter([{"name": "v", "type": SCALARS}])
    result = convert({"v": value})["v"]
    assert result == expected and type(result) is kind


def test_union_falls_through_to_a_later_branch() -> None:
    convert = converter([{"name": "v", "type": ["long", "double"]}])
    assert convert({"v": 2**64 - 1}) == {"v": float(2**64 - 1)}


def test_union_error_lists_every_branch() -> None:
    err = field_error(converter([{"name": "v", "type": SCALARS}]), {"v": [1]})
    assert err.path == "v"
    assert err.problem == (
        "expected null, a boolean, a long (64-bit integer), a number or a string, got [1]"
    )


def test_paths_through_arrays_maps_and_records() -> None:
    inner = {"type": "record", "name": "t.Inner", "fields": [{"name": "n", "type": "int"}]}
    convert = converter(
        [{"name": "items", "type": {"type": "array", "items": {"type": "map", "values": inner}}}]
    )
    err = field_error(convert, {"items": [{"a": {"n": 1}}, {"ok": {"n": 1}, "x.y": {"n": "1"}}]})
    assert err.path == 'items[1]["x.y"].n'
    assert err.code == "invalid_value"


def test_int_and_float_ranges() -> None:
    convert = converter([{"name": "i", "type": "int"}, {"name": "f", "type": "float"}])
    assert convert({"i": 2**31 - 1, "f": 1.5}) == {"i": 2**31 - 1, "f": 1.5}
    assert "out of range" in field_error(convert, {"i": 2**31, "f": 0.0}).problem
    assert "out of range" in field_error(convert, {"i": 0, "f": 1e39}).problem


def test_booleans_are_not_numbers() -> None:
    convert = converter([{"name": "n", "type": "long"}, {"name": "d", "type": "double"}])
    assert field_error(convert, {"n": True, "d": 1.0}).path == "n"
    assert field_error(convert, {"n": 1, "d": False}).path == "d"


def test_unknown_fields_ignored_from_json_refused_for_encoding() -> None:
    fields = [{"name": "a", "type": "string"}]
    assert converter(fields, FROM_JSON)({"a": "x", "b": 1}) == {"a": "x"}
    for mode in (FOR_AVRO, FOR_JSON):
        err = field_error(converter(fields, mode), {"a": "x", "b": 1})
        assert err.path == "b" and err.problem == "not a field of Thing (its fields: a)"


def test_bytes_and_fixed_per_mode() -> None:
    fields = [
        {"name": "b", "type": "bytes"},
        {"name": "f", "type": {"type": "fixed", "name": "t.Two", "size": 2}},
    ]
    assert converter(fields, FROM_JSON)({"b": "AAE=", "f": "AQI="}) == {"b": b"\0\1", "f": b"\1\2"}
    assert converter(fields, FOR_AVRO)({"b": b"\0", "f": bytearray(b"\1\2")}) == {
        "b": b"\0",
        "f": b"\1\2",
    }
    assert converter(fields, FOR_JSON)({"b": b"\0\1", "f": b"\1\2"}) == {"b": "AAE=", "f": "AQI="}
    assert "(3 bytes)" in field_error(converter(fields, FOR_AVRO), {"b": b"", "f": b"123"}).problem
    assert field_error(converter(fields, FROM_JSON), {"b": b"\0", "f": "AQI="}).path == "b"


def test_recursive_schema() -> None:
    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "t.Node",
            "fields": [
                {"name": "label", "type": "string"},
                {"name": "next", "type": ["null", "t.Node"], "default": None},
            ],
        }
    )
    convert = compile_converter(schema, FROM_JSON)
    assert convert({"label": "a", "next": {"label": "b"}}) == {
        "label": "a",
        "next": {"label": "b", "next": None},
    }
    assert field_error(convert, {"label": "a", "next": {"next": None}}).path == "next.label"


def test_missing_field_says_what_was_expected() -> None:
    convert = converter([{"name": "e", "type": {"type": "enum", "name": "t.E", "symbols": ["x"]}}])
    err = field_error(convert, {})
    assert (err.code, err.path) == ("missing_field", "e")
    assert err.problem == "required field is missing; expected one of x"


def test_defaults_are_fresh_copies() -> None:
    convert = converter(
        [
            {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
            {
                "name": "nested",
                "type": {"type": "array", "items": {"type": "array", "items": "int"}},
                "default": [[1]],
            },
        ]
    )
    first, second = convert({}), convert({})
    first["tags"].append("x")
    first["nested"][0].append(2)
    assert second == {"tags": [], "nested": [[1]]}
