"""Decoding and encoding Clearance messages: Avro single-object encoding or JSON.

:class:`Codec` is the hot path of every worker: one instance per message kind, built once,
then ``decode`` for each consumed value and ``encode`` for each produced one.

Decoded shape
-------------
``decode`` returns the same dict for an Avro or a JSON message: exactly the schema's fields,
in schema order, with plain Python values. Records are dicts, arrays lists, maps dicts with
str keys; enums are their symbol as ``str``; ``timestamp-millis`` fields are ``int``
milliseconds since the Unix epoch (UTC), never ``datetime``; ``double`` fields are ``float``;
unions are the bare value of the matching branch (no ``{"string": ...}`` wrapping); ``bytes``
are ``bytes``. JSON messages get the schema defaults for optional fields they leave out.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any, Final, cast

import orjson
from fastavro import schemaless_reader, schemaless_writer

from clearance.errors import ClearanceError, ConfigError

from ._compile import compile_converter
from ._registry import SchemaInfo, fingerprint, schema_by_fingerprint, schema_info
from ._values import FOR_AVRO, FOR_JSON, FROM_JSON, Converter, FieldError

__all__ = [
    "DECODE_REASON_CODES",
    "SINGLE_OBJECT_MARKER",
    "Codec",
    "DecodeError",
    "EncodeError",
    "fingerprint",
]

SINGLE_OBJECT_MARKER: Final = b"\xc3\x01"
"""First two bytes of Avro single-object encoding; the 8-byte fingerprint follows."""

DECODE_REASON_CODES: Final = frozenset(
    {
        "empty",
        "oversized",
        "undecodable",
        "registry_framing",
        "unknown_schema",
        "schema_mismatch",
        "missing_field",
        "invalid_value",
    }
)
"""Every value :attr:`DecodeError.reason_code` takes."""

_HEADER_SIZE = len(SINGLE_OBJECT_MARKER) + 8
_REGISTRY_HEADER_SIZE = 5
_JSON_WHITESPACE = b" \t\r\n"
_OPEN_BRACE = ord("{")
_FORMATS = "Avro single-object encoding (C3 01 + schema fingerprint) or a UTF-8 JSON object"


class DecodeError(ClearanceError):
    """A message that cannot become a record; it belongs on the dead-letter topic.

    Attributes
    ----------
    reason_code
        Machine-readable class, one of :data:`DECODE_REASON_CODES`.
    reason
        Human-readable reason naming the field path and bad value, or the byte at fault.
    field
        Path of the field at fault (``principal.type``), or None when no field is to blame.
    """

    def __init__(self, reason_code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason_code, self.reason, self.field))


class EncodeError(ClearanceError):
    """A record that does not fit its schema, so it cannot be published.

    Attributes
    ----------
    reason
        Human-readable reason naming the field path and bad value.
    field
        Path of the field at fault (``resource.sensitivity``), or None.
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.field))


class Codec:
    """Decoder and encoder for one message kind.

    Parameters
    ----------
    kind
        Schema name, such as ``"ActionEvent"`` (see ``clearance.schemas.SCHEMA_NAMES``).
    max_message_bytes
        Larger messages are refused with ``oversized`` before any parsing.

    Attributes
    ----------
    kind
        The schema name.
    schema
        The schema, parsed and fingerprinted.
    fingerprint
        8-byte CRC-64-AVRO fingerprint written after ``C3 01``.
    max_message_bytes
        The size limit of ``decode``.

    Raises
    ------
    UnknownSchemaError
        When ``kind`` is not a shipped schema.
    ConfigError
        When ``max_message_bytes`` is not a positive integer.

    Notes
    -----
    ``decode`` accepts:

    * Avro single-object encoding: ``C3 01``, the 8-byte little-endian CRC-64-AVRO
      fingerprint of this kind's schema, then the Avro binary body, with no trailing bytes.
    * A UTF-8 JSON object (first non-whitespace byte ``{``) with the schema's field names
      and plain JSON values: no Avro-JSON union wrapping; timestamps as epoch milliseconds or
      RFC 3339 strings with an offset; ``bytes`` as base64. Optional fields may be left out.
      Fields the schema does not declare are ignored at every level, so producers may add
      fields before the schema does (forward compatibility); explicit ``null`` is accepted
      only where the schema allows null.

    It refuses Confluent Schema Registry framing (``00`` + 4-byte schema id): no registry is
    configured. Every refusal is a :class:`DecodeError`; nothing else escapes ``decode``.

    ``encode`` writes single-object encoding (``fmt="avro"``) or compact UTF-8 JSON
    (``fmt="json"``) in the decoded shape, with bytes as base64. Both decode back to the
    same dict. Records to encode must not carry fields the schema lacks.
    """

    __slots__ = (
        "_for_avro",
        "_for_json",
        "_from_json",
        "_header",
        "_wire",
        "fingerprint",
        "kind",
        "max_message_bytes",
        "schema",
    )

    def __init__(self, kind: str, max_message_bytes: int = 1_048_576) -> None:
        if type(max_message_bytes) is not int or max_message_bytes <= 0:
            raise ConfigError(
                "max_message_bytes",
                max_message_bytes,
                "must be a positive integer number of bytes",
                "pass the topic's max.message.bytes, for example 1048576",
            )
        info = schema_info(kind)
        self.kind: str = info.name
        self.schema: SchemaInfo = info
        self.fingerprint: bytes = info.fingerprint
        self.max_message_bytes: int = max_message_bytes
        self._header = SINGLE_OBJECT_MARKER + info.fingerprint
        self._wire = info.wire
        self._from_json: Converter = compile_converter(info.parsed, FROM_JSON)
        self._for_avro: Converter = compile_converter(info.parsed, FOR_AVRO)
        self._for_json: Converter = compile_converter(info.parsed, FOR_JSON)

    def __repr__(self) -> str:
        return f"Codec({self.kind!r}, max_message_bytes={self.max_message_bytes})"

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """Decode one message value.

        Parameters
        ----------
        data
            The Kafka message value; None for a tombstone.

        Returns
        -------
        dict
            The record in the decoded shape described in this module's docstring.

        Raises
        ------
        DecodeError
            For every message that is not a valid record of this kind.
        """
        if not data:
            raise DecodeError("empty", f"empty message ({'null' if data is None else '0 bytes'})")
        size = len(data)
        if size > self.max_message_bytes:
            raise DecodeError(
                "oversized",
                f"message is {size} bytes, over the limit of {self.max_message_bytes} "
                "(max_message_bytes); publish smaller events or raise the limit",
            )
        if data[:_HEADER_SIZE] == self._header:
            return self._read_avro(data, size)
        if data[0] == _OPEN_BRACE:
            return self._read_json(data)
        return self._diagnose(data, size)

    def encode(self, record: dict[str, Any], fmt: str = "avro", *, trusted: bool = False) -> bytes:
        """Encode one record for publishing.

        Parameters
        ----------
        record
            Field names as in the schema; optional fields may be left out. Timestamps may be
            int milliseconds, RFC 3339 strings or aware datetimes.
        fmt
            ``"avro"`` for single-object encoding, ``"json"`` for UTF-8 JSON.
        trusted
            The record is already in the decoded shape (every field present, timestamps as
            int milliseconds), as records built by Clearance itself are: Avro output skips the
            normalisation pass, which costs more than the write, and relies on fastavro's own
            type checks. JSON output is always normalised (bytes become base64).

        Returns
        -------
        bytes

        Raises
        ------
        EncodeError
            When the record does not fit the schema (the reason names the field), or ``fmt``
            is neither ``"avro"`` nor ``"json"``.
        """
        if fmt == "avro":
            plain = record if trusted else self._check(self._for_avro, record)
            stream = BytesIO()
            stream.write(self._header)
            try:
                schemaless_writer(stream, self._wire, plain)
            except Exception as exc:  # fastavro raises many types
                raise EncodeError(f"{self.kind}: cannot write Avro: {exc}") from exc
            return stream.getvalue()
        if fmt == "json":
            plain = self._check(self._for_json, record)
            try:
                return orjson.dumps(plain)
            except orjson.JSONEncodeError as exc:
                raise EncodeError(f"{self.kind}: cannot write JSON: {exc}") from exc
        raise EncodeError(f"fmt must be 'avro' or 'json', not {fmt!r}")

    def _check(self, convert: Converter, record: dict[str, Any]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = convert(record)
        except FieldError as err:
            path = err.path
            where = path or f"{self.kind} record"
            raise EncodeError(f"{where}: {err.problem}", path or None) from None
        return result

    def _read_avro(self, data: bytes, size: int) -> dict[str, Any]:
        stream = BytesIO(data)
        stream.seek(_HEADER_SIZE)
        try:
            record = cast(dict[str, Any], schemaless_reader(stream, self._wire, None))
        except Exception as exc:  # fastavro raises many types on bad input
            raise DecodeError(
                "undecodable",
                f"Avro body of {self.kind} breaks off at byte {stream.tell()} of {size} "
                f"({type(exc).__name__}: {exc}); the message is truncated or corrupt",
            ) from None
        end = stream.tell()
        if end != size:
            raise DecodeError(
                "undecodable",
                f"Avro body of {self.kind} ends at byte {end} but the message has {size} "
                f"bytes; {size - end} trailing bytes mean it is corrupt or was written with "
                "another schema",
            )
        return record

    def _read_json(self, data: bytes) -> dict[str, Any]:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError("undecodable", f"invalid JSON: {exc}") from None
        if type(value) is not dict:
            raise DecodeError(
                "undecodable",
                f"JSON {_json_type(value)} where a JSON object ({self.kind}) is expected",
            )
        try:
            result: dict[str, Any] = self._from_json(value)
        except FieldError as err:
            path = err.path
            raise DecodeError(err.code, f"{path}: {err.problem}", path) from None
        return result

    def _diagnose(self, data: bytes, size: int) -> dict[str, Any]:
        """Everything that is not one of our single-object headers nor starts with ``{``."""
        first = data[0]
        if first == SINGLE_OBJECT_MARKER[0] and data[1:2] == SINGLE_OBJECT_MARKER[1:]:
            if size < _HEADER_SIZE:
                raise DecodeError(
                    "undecodable",
                    f"Avro single-object header is cut short: {size} bytes, "
                    f"needs {_HEADER_SIZE} (C3 01 + 8-byte fingerprint)",
                )
            self._refuse_fingerprint(bytes(data[2:_HEADER_SIZE]))
        if first == SINGLE_OBJECT_MARKER[0] and size > 1:
            raise DecodeError(
                "undecodable",
                f"byte 1 is 0x{data[1]:02x}, but Avro single-object encoding starts C3 01",
            )
        if first == 0x00:
            if size >= _REGISTRY_HEADER_SIZE:
                schema_id = int.from_bytes(data[1:_REGISTRY_HEADER_SIZE], "big")
                raise DecodeError(
                    "registry_framing",
                    f"Confluent Schema Registry framing (schema id {schema_id}) but no schema "
                    "registry is configured; publish with Avro single-object encoding or JSON",
                )
            raise DecodeError(
                "undecodable",
                f"byte 0 is 0x00 as in Confluent Schema Registry framing, but the message has "
                f"only {size} bytes; publish with {_FORMATS}",
            )
        stripped = bytes(data).lstrip(_JSON_WHITESPACE)
        if not stripped:
            raise DecodeError("undecodable", f"message is {size} bytes of whitespace only")
        if stripped[0] == _OPEN_BRACE:
            return self._read_json(data)
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            offset = size - len(stripped)
            raise DecodeError(
                "undecodable",
                f"byte {offset} is 0x{stripped[0]:02x}, which starts none of the accepted "
                f"formats; publish {self.kind} as {_FORMATS}",
            ) from None
        raise DecodeError(
            "undecodable", f"JSON {_json_type(value)} where a JSON object ({self.kind}) is expected"
        )

    def _refuse_fingerprint(self, found: bytes) -> None:
        other = schema_by_fingerprint(found)
        expected = f"{self.schema.full_name} (fingerprint {self.fingerprint.hex()})"
        if other is not None:
            raise DecodeError(
                "schema_mismatch",
                f"message is a {other.full_name} (fingerprint {found.hex()}) but this topic "
                f"carries {expected}; check which topic the producer writes to",
            )
        raise DecodeError(
            "unknown_schema",
            f"unknown schema fingerprint {found.hex()} in bytes 2-9; expected {expected}. "
            "Write with the schema shipped in clearance.schemas; the fingerprint is the "
            "little-endian CRC-64-AVRO of its Parsing Canonical Form",
        )


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
