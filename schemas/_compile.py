"""Compiling an Avro schema into one converter of plain values.

The schema is walked once; every type becomes a small closure (see ``_values``) and records,
arrays, maps and unions call the closures of their parts. Running the result on a value
checks it, fills record defaults, and returns it in the codec's decoded shape.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ._values import (
    TIMESTAMP_HELP,
    VALUE_KINDS,
    Converter,
    FieldError,
    ValueMode,
    binary_converter,
    enum_converter,
    key_segment,
    primitive_converter,
    show,
    timestamp_converter,
    value_kind,
)

__all__ = ["compile_converter"]

_ABSENT = object()

_PRIMITIVE_DESCRIPTIONS = {
    "null": "null",
    "boolean": "a boolean",
    "int": "an int (32-bit integer)",
    "long": "a long (64-bit integer)",
    "float": "a number",
    "double": "a number",
    "string": "a string",
    "bytes": "bytes",
}
_TYPE_KINDS = {
    "null": frozenset({"null"}),
    "boolean": frozenset({"boolean"}),
    "int": frozenset({"integer"}),
    "long": frozenset({"integer"}),
    "float": frozenset({"integer", "number"}),
    "double": frozenset({"integer", "number"}),
    "string": frozenset({"string"}),
    "enum": frozenset({"string"}),
    "array": frozenset({"array"}),
    "map": frozenset({"object"}),
    "record": frozenset({"object"}),
    "error": frozenset({"object"}),
}


def compile_converter(schema: dict[str, Any], mode: ValueMode) -> Converter:
    """Compile a fastavro-parsed schema into a converter of plain values.

    Parameters
    ----------
    schema
        Output of ``fastavro.parse_schema`` with logical types kept.
    mode
        ``FROM_JSON``, ``FOR_AVRO`` or ``FOR_JSON`` from ``_values``.

    Returns
    -------
    Converter
        Takes a plain value, returns it normalised (defaults filled, timestamps as int
        milliseconds, fields in schema order) or raises ``FieldError``.
    """
    return _Compiler(mode).convert(schema)


def _is_timestamp_millis(schema: Any) -> bool:
    return (
        isinstance(schema, dict)
        and schema.get("type") == "long"
        and schema.get("logicalType") == "timestamp-millis"
    )


class _Compiler:
    """One walk over a schema; named types are remembered for later references."""

    def __init__(self, mode: ValueMode) -> None:
        self.mode = mode
        self.named: dict[str, Converter] = {}
        self.named_kinds: dict[str, frozenset[str]] = {}
        self.named_descriptions: dict[str, str] = {}

    def describe(self, schema: Any) -> str:
        """The type as error messages name it."""
        if isinstance(schema, list):
            parts = [self.describe(branch) for branch in schema] or ["nothing (empty union)"]
            return ", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else parts[0]
        if isinstance(schema, str):
            if schema in self.named_descriptions:
                return self.named_descriptions[schema]
            if schema == "bytes" and self.mode.base64_in:
                return "a base64 string"
            return _PRIMITIVE_DESCRIPTIONS.get(schema, schema)
        kind = schema["type"]
        if _is_timestamp_millis(schema):
            return f"a timestamp: {TIMESTAMP_HELP}"
        if kind == "enum":
            return "one of " + ", ".join(schema["symbols"])
        if kind in ("record", "error"):
            return f"an object ({schema['name'].rpartition('.')[2]})"
        if kind == "array":
            return f"an array of {self.describe(schema['items'])}"
        if kind == "map":
            return f"an object whose values are {self.describe(schema['values'])}"
        if kind == "fixed":
            return f"{schema['size']} bytes" + (" as base64" if self.mode.base64_in else "")
        return self.describe(kind)

    def kinds(self, schema: Any) -> frozenset[str]:
        """The value kinds (see ``value_kind``) this type may accept; drives union choice."""
        if isinstance(schema, list):
            return frozenset().union(*(self.kinds(branch) for branch in schema))
        if isinstance(schema, str) and schema in self.named_kinds:
            return self.named_kinds[schema]
        if _is_timestamp_millis(schema):
            extra = {"datetime"} if self.mode.accept_datetime else set()
            return frozenset({"integer", "string", *extra})
        kind = schema if isinstance(schema, str) else schema["type"]
        if kind in ("bytes", "fixed"):
            return frozenset({"string"} if self.mode.base64_in else {"bytes"})
        return _TYPE_KINDS.get(kind, frozenset({"object"}))

    def convert(self, schema: Any) -> Converter:
        if isinstance(schema, list):
            return self.union(schema)
        if isinstance(schema, str):
            if schema in self.named:
                return self.named[schema]
            return primitive_converter(schema, self.describe(schema), self.mode)
        kind = schema["type"]
        if _is_timestamp_millis(schema):
            return timestamp_converter(self.mode)
        if kind in ("record", "error"):
            return self.record(schema)
        if kind == "enum":
            return self.remember(
                schema, enum_converter(schema["symbols"], self.describe(schema)), "string"
            )
        if kind == "fixed":
            converter = binary_converter(int(schema["size"]), self.describe(schema), self.mode)
            return self.remember(schema, converter, "bytes")
        if kind == "array":
            return self.array(schema)
        if kind == "map":
            return self.map(schema)
        return primitive_converter(kind, self.describe(schema), self.mode)

    def remember(self, schema: dict[str, Any], converter: Converter, like: str) -> Converter:
        name = schema["name"]
        self.named_descriptions[name] = self.describe(schema)
        self.named_kinds[name] = self.kinds(like)
        self.named[name] = converter
        return converter

    def array(self, schema: dict[str, Any]) -> Converter:
        wanted = self.describe(schema)
        convert_item = self.convert(schema["items"])
        items_are_strings = schema["items"] == "string"

        def array(value: Any) -> list[Any]:
            if type(value) is not list and value_kind(value) != "array":
                raise FieldError("invalid_value", f"expected {wanted}, got {show(value)}")
            if items_are_strings and all(type(item) is str for item in value):
                return list(value)
            result: list[Any] = []
            try:
                for item in value:
                    result.append(convert_item(item))
            except FieldError as err:
                # The failing item is the one after the last converted.
                err.segments.append(f"[{len(result)}]")
                raise
            return result

        return array

    def map(self, schema: dict[str, Any]) -> Converter:
        wanted = self.describe(schema)
        convert_value = self.convert(schema["values"])

        def mapping(value: Any) -> dict[str, Any]:
            if type(value) is not dict and value_kind(value) != "object":
                raise FieldError("invalid_value", f"expected {wanted}, got {show(value)}")
            result = {}
            key: object = None
            try:
                for key, item in value.items():
                    if type(key) is not str:
                        raise FieldError("invalid_value", "map keys must be strings")
                    result[key] = convert_value(item)
            except FieldError as err:
                err.segments.append(key_segment(key))
                raise
            return result

        return mapping

    def union(self, branches: list[Any]) -> Converter:
        wanted = self.describe(branches)
        converters = [(self.kinds(branch), self.convert(branch)) for branch in branches]
        # Per value kind, the branches that may take it, in declaration order.
        by_kind = {
            kind: tuple(conv for kinds, conv in converters if kind in kinds) for kind in VALUE_KINDS
        }
        nullable = "null" in branches

        def union(value: Any) -> Any:
            if value is None and nullable:
                return None
            candidates = by_kind[value_kind(value)]
            if len(candidates) == 1:
                return candidates[0](value)
            if not candidates:
                raise FieldError("invalid_value", f"expected {wanted}, got {show(value)}")
            first_error: FieldError | None = None
            for candidate in candidates:
                try:
                    return candidate(value)
                except FieldError as err:
                    first_error = first_error or err
            raise first_error or FieldError("invalid_value", f"expected {wanted}")

        return union

    def record(self, schema: dict[str, Any]) -> Converter:
        full_name: str = schema["name"]
        short_name = full_name.rpartition(".")[2]
        wanted = self.describe(schema)
        names = frozenset(field["name"] for field in schema["fields"])
        reject_unknown = self.mode.reject_unknown_fields
        # (name, converter, default factory or None when required, description)
        fields: list[tuple[str, Converter, Callable[[], Any] | None, str]] = []

        def record(value: Any) -> dict[str, Any]:
            if type(value) is not dict and value_kind(value) != "object":
                raise FieldError("invalid_value", f"expected {wanted}, got {show(value)}")
            result = {}
            seen = 0
            for name, convert_field, default, wanted_field in fields:
                item = value.get(name, _ABSENT)
                if item is _ABSENT:
                    if default is None:
                        missing = FieldError(
                            "missing_field", f"required field is missing; expected {wanted_field}"
                        )
                        missing.segments.append("." + name)
                        raise missing
                    result[name] = default()
                    continue
                seen += 1
                try:
                    result[name] = convert_field(item)
                except FieldError as err:
                    err.segments.append("." + name)
                    raise
            if reject_unknown and seen != len(value):
                unknown = sorted(str(key) for key in value if key not in names)
                stranger = FieldError(
                    "invalid_value",
                    f"not a field of {short_name} (its fields: {', '.join(sorted(names))})",
                )
                stranger.segments.append(key_segment(unknown[0]))
                raise stranger
            return result

        # Remembered before the fields compile, so a recursive reference finds it.
        self.named[full_name] = record
        self.named_descriptions[full_name] = wanted
        self.named_kinds[full_name] = frozenset({"object"})
        for field in schema["fields"]:
            default = _default_factory(field["default"]) if "default" in field else None
            fields.append(
                (field["name"], self.convert(field["type"]), default, self.describe(field["type"]))
            )
        return record


def _default_factory(default: Any) -> Callable[[], Any]:
    """Fresh copies of mutable defaults, so no two records share one list or dict."""
    if isinstance(default, list) and not default:
        return list
    if isinstance(default, dict) and not default:
        return dict
    if isinstance(default, (list, dict)):
        return lambda: copy.deepcopy(default)
    return lambda: default
