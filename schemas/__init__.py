"""Clearance's message schemas and the codec that reads and writes them.

Each message kind is an Avro record in namespace ``clearance.v1``, shipped as
``<Kind>.avsc`` in this package: ActionEvent, ModelEvent, Approval, Decision, Revocation,
Escalation and DeadLetter. :class:`Codec` turns message values into plain dicts and back.

Wire formats accepted by ``Codec.decode``
-----------------------------------------
* **Avro single-object encoding**: bytes ``C3 01``, then the 8-byte little-endian
  CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form (:func:`fingerprint`), then
  the Avro binary body. A fingerprint of another Clearance schema is refused as
  ``schema_mismatch``; any other fingerprint as ``unknown_schema``.
* **JSON**: a UTF-8 JSON object with the schema's field names and plain JSON values (no
  Avro-JSON union wrapping). Optional fields may be left out and get their defaults;
  timestamps are epoch milliseconds or RFC 3339 strings; ``bytes`` are base64; unknown
  fields are ignored for forward compatibility.

Refused with a :class:`DecodeError` whose ``reason_code`` says why: Confluent Schema
Registry framing (``00`` + schema id; no registry is configured), empty or oversized values,
and anything that does not fit the schema.

Wire formats produced by ``Codec.encode``
-----------------------------------------
Avro single-object encoding (default) or compact UTF-8 JSON, both in the same decoded shape:
timestamps as int milliseconds, enums as strings, bytes (JSON only) as base64.
"""

from ._registry import (
    SchemaInfo,
    UnknownSchemaError,
    fingerprint,
    schema_by_fingerprint,
    schema_info,
    schema_names,
)
from .codec import (
    DECODE_REASON_CODES,
    SINGLE_OBJECT_MARKER,
    Codec,
    DecodeError,
    EncodeError,
)

SCHEMA_NAMES: tuple[str, ...] = schema_names()
"""Every shipped schema name, sorted: the valid ``kind`` arguments of :class:`Codec`."""

__all__ = [
    "DECODE_REASON_CODES",
    "SCHEMA_NAMES",
    "SINGLE_OBJECT_MARKER",
    "Codec",
    "DecodeError",
    "EncodeError",
    "SchemaInfo",
    "UnknownSchemaError",
    "fingerprint",
    "schema_by_fingerprint",
    "schema_info",
    "schema_names",
]
