"""Plain values against Avro types: errors, modes, messages, and converters of single values.

JSON messages and the records given to ``Codec.encode`` are plain values: dicts, lists,
str, int, float, bool, None (and, in records to encode, bytes and aware datetimes). A
converter takes one such value and returns it in the codec's decoded shape, or raises
:class:`FieldError`. This module holds the converters of non-composite types; ``_compile``
assembles them into a converter for a whole schema.
"""

from __future__ import annotations

import binascii
import math
import numbers
import re
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from clearance.errors import ClearanceError

from ._timestamps import datetime_to_millis, rfc3339_to_millis

__all__ = [
    "FOR_AVRO",
    "FOR_JSON",
    "FROM_JSON",
    "TIMESTAMP_HELP",
    "VALUE_KINDS",
    "Converter",
    "FieldError",
    "ValueMode",
    "binary_converter",
    "enum_converter",
    "key_segment",
    "primitive_converter",
    "show",
    "timestamp_converter",
    "value_kind",
]

Converter = Callable[[Any], Any]

TIMESTAMP_HELP = 'epoch milliseconds (integer) or an RFC 3339 string such as "2026-11-23T10:00:00Z"'
"""How a timestamp may be written, for messages."""

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)
_FLOAT_MAX = 3.4028234663852886e38
_SHOWN_CHARS = 80
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_REPR = reprlib.Repr()
_REPR.maxstring = _SHOWN_CHARS
_REPR.maxother = _SHOWN_CHARS


class FieldError(ClearanceError):
    """A value does not fit the schema.

    Attributes
    ----------
    code
        ``missing_field`` or ``invalid_value``.
    problem
        What is wrong with the value, without its location.
    segments
        Path segments, innermost first (``".type"``, ``"[2]"``); see :attr:`path`. Each
        enclosing converter appends its own while the error travels up, so values that fit
        cost no string building.
    """

    def __init__(self, code: str, problem: str) -> None:
        super().__init__(problem)
        self.code = code
        self.problem = problem
        self.segments: list[str] = []

    @property
    def path(self) -> str:
        """Dotted path of the value at fault, such as ``principal.roles[2]``."""
        return "".join(reversed(self.segments)).lstrip(".")


@dataclass(frozen=True, slots=True)
class ValueMode:
    """How plain values are read and what they become.

    Attributes
    ----------
    base64_in
        Avro ``bytes``/``fixed`` arrive as base64 strings (JSON) rather than ``bytes``.
    base64_out
        Avro ``bytes``/``fixed`` leave as base64 strings (for JSON output).
    accept_datetime
        Timestamps may also be aware ``datetime`` objects.
    finite_only
        Reject NaN and infinities, which JSON cannot carry.
    reject_unknown_fields
        A record key that the schema does not declare is an error (else it is ignored).
    """

    base64_in: bool
    base64_out: bool
    accept_datetime: bool
    finite_only: bool
    reject_unknown_fields: bool


FROM_JSON = ValueMode(True, False, False, True, False)
"""Parsed JSON messages: forward compatible, unknown fields are ignored."""
FOR_AVRO = ValueMode(False, False, True, False, True)
"""Records to write as Avro binary."""
FOR_JSON = ValueMode(False, True, True, True, True)
"""Records to write as JSON."""


def show(value: object) -> str:
    """A value as a message shows it: JSON when possible, cut to about 80 characters."""
    try:
        text = orjson.dumps(value).decode()
    except (TypeError, ValueError):
        # Not JSON (bytes, nesting deeper than orjson writes): reprlib also bounds the depth.
        text = _REPR.repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def key_segment(key: object) -> str:
    """Path segment of a map key: ``.rows``, or ``["a b"]`` when the key is not name-like."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return "." + key
    return f"[{show(key)}]"


_EXACT_KINDS: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    dict: "object",
    list: "array",
    tuple: "array",
    bytes: "bytes",
    bytearray: "bytes",
    memoryview: "bytes",
    datetime: "datetime",
}
VALUE_KINDS = (*sorted(set(_EXACT_KINDS.values())), "other")
"""Every result of :func:`value_kind`."""


def value_kind(value: object) -> str:
    """The JSON-ish kind of a value: null, boolean, integer, number, string, object, array,
    bytes, datetime or other. Exact built-in types cost one dict lookup."""
    kind = _EXACT_KINDS.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, numbers.Integral):
        return "integer"
    if isinstance(value, (numbers.Real, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes"
    if isinstance(value, datetime):
        return "datetime"
    return "other"


def _complaint(wanted: str) -> Callable[..., FieldError]:
    def invalid(value: object, note: str = "") -> FieldError:
        return FieldError("invalid_value", f"expected {wanted}, got {show(value)}{note}")

    return invalid


def primitive_converter(kind: str, wanted: str, mode: ValueMode) -> Converter:
    """Converter of an Avro primitive type.

    Parameters
    ----------
    kind
        null, boolean, int, long, float, double, string or bytes.
    wanted
        Description of the type for messages, such as ``a string``.
    mode
        How values are read and written.

    Returns
    -------
    Converter
    """
    invalid = _complaint(wanted)
    if kind == "null":

        def null(value: object) -> None:
            if value is None:
                return None
            raise invalid(value)

        return null
    if kind == "boolean":

        def boolean(value: object) -> bool:
            if value is True or value is False:
                return value
            raise invalid(value)

        return boolean
    if kind in ("int", "long"):
        low, high = _INT_RANGE if kind == "int" else _LONG_RANGE

        def integer(value: Any) -> int:
            if type(value) is int and low <= value <= high:
                return value
            if value_kind(value) == "integer":
                if low <= int(value) <= high:
                    return int(value)
                raise invalid(value, " (out of range)")
            raise invalid(value)

        return integer
    if kind in ("float", "double"):
        limit = _FLOAT_MAX if kind == "float" else math.inf
        finite_only = mode.finite_only

        def number(value: Any) -> float:
            if value_kind(value) not in ("number", "integer"):
                raise invalid(value)
            try:
                result = float(value)
            except OverflowError:
                raise invalid(value, " (out of range)") from None
            if math.isfinite(result):
                if -limit <= result <= limit:
                    return result
                raise invalid(value, " (out of range)")
            if finite_only:
                raise invalid(value, " (JSON has no NaN or infinity)")
            return result

        return number
    if kind == "string":

        def string(value: Any) -> str:
            if type(value) is str:
                return value
            if isinstance(value, str):
                # str() of a (str, Enum) member is "Class.MEMBER"; this gives its value.
                return str.__str__(value)
            raise invalid(value)

        return string
    if kind == "bytes":
        return binary_converter(None, wanted, mode)
    raise ClearanceError(f"unsupported Avro type {kind!r} in a schema")


def binary_converter(size: int | None, wanted: str, mode: ValueMode) -> Converter:
    """Converter of Avro ``bytes`` (``size`` None) or ``fixed`` of ``size`` bytes.

    Parameters
    ----------
    size
        Exact length for ``fixed``; None for ``bytes``.
    wanted
        Description of the type for messages.
    mode
        Says whether values arrive and leave as base64 strings or as bytes.

    Returns
    -------
    Converter
    """
    invalid = _complaint(wanted)
    base64_in, base64_out = mode.base64_in, mode.base64_out

    def binary(value: Any) -> bytes | str:
        if base64_in:
            if not isinstance(value, str):
                raise invalid(value)
            try:
                raw = binascii.a2b_base64(value, strict_mode=True)
            except (binascii.Error, ValueError):
                raise invalid(value, " (not valid base64)") from None
        elif isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
        else:
            raise invalid(value)
        if size is not None and len(raw) != size:
            raise invalid(value, f" ({len(raw)} bytes)")
        if base64_out:
            return binascii.b2a_base64(raw, newline=False).decode("ascii")
        return raw

    return binary


def timestamp_converter(mode: ValueMode) -> Converter:
    """Converter of ``timestamp-millis``: int milliseconds, RFC 3339 strings (and aware
    datetimes when ``mode.accept_datetime``) become int milliseconds since the epoch.

    Parameters
    ----------
    mode
        How values are read.

    Returns
    -------
    Converter
    """
    low, high = _LONG_RANGE
    accept_datetime = mode.accept_datetime
    invalid = _complaint(TIMESTAMP_HELP)

    def timestamp(value: Any) -> int:
        if type(value) is int and low <= value <= high:
            return value
        kind = value_kind(value)
        try:
            if kind == "string":
                return rfc3339_to_millis(value)
            if kind == "datetime" and accept_datetime:
                return datetime_to_millis(value)
        except ValueError as exc:
            raise invalid(value, f" ({exc})") from None
        if kind == "integer":
            if low <= int(value) <= high:
                return int(value)
            raise invalid(value, " (out of range)")
        raise invalid(value)

    return timestamp


def enum_converter(symbols: list[str], wanted: str) -> Converter:
    """Converter of an Avro enum: one of ``symbols``, as a plain str.

    Parameters
    ----------
    symbols
        The enum's symbols.
    wanted
        Description for messages, such as ``one of human, agent``.

    Returns
    -------
    Converter
    """
    allowed = frozenset(symbols)
    invalid = _complaint(wanted)

    def enum(value: Any) -> str:
        if type(value) is str and value in allowed:
            return value
        if isinstance(value, str) and str.__str__(value) in allowed:
            return str.__str__(value)
        raise invalid(value)

    return enum
