"""The Avro schemas shipped with Clearance, keyed by name and by fingerprint.

Every ``*.avsc`` file in this package is one message kind (``ActionEvent.avsc`` holds the
record ``clearance.v1.ActionEvent``). Each is loaded once, through :mod:`importlib.resources`
so the files are found in an installed wheel as well as in a source checkout.

The fingerprint of a schema is the CRC-64-AVRO (Rabin) fingerprint of its Parsing Canonical
Form, as the Avro specification defines both; as bytes it is the 8-byte little-endian value
that follows the ``C3 01`` marker of Avro single-object encoding.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, cast

import fastavro
from fastavro.schema import SchemaParseException, to_parsing_canonical_form
from fastavro.schema import fingerprint as _fastavro_fingerprint

from clearance.errors import ClearanceError

__all__ = [
    "SchemaInfo",
    "UnknownSchemaError",
    "fingerprint",
    "schema_by_fingerprint",
    "schema_info",
    "schema_names",
]

_PACKAGE = __name__.rpartition(".")[0]
_SCHEMA_SUFFIX = ".avsc"


class UnknownSchemaError(ClearanceError):
    """A schema name that is not one of the shipped ``*.avsc`` files, or a broken file."""


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """One shipped schema, parsed and fingerprinted.

    Attributes
    ----------
    name
        Short record name, equal to the file stem: ``"ActionEvent"``.
    full_name
        Namespaced record name: ``"clearance.v1.ActionEvent"``.
    declared
        The ``.avsc`` document as shipped (with docs and logical types); read-only.
    canonical_form
        Avro Parsing Canonical Form of the schema.
    fingerprint
        CRC-64-AVRO of ``canonical_form``, 8 bytes little-endian (as written on the wire).
    parsed
        fastavro-parsed schema with logical types kept; describes the plain values.
    wire
        fastavro-parsed schema with every ``logicalType`` removed. Reading and writing with it
        keeps timestamps as integer milliseconds instead of ``datetime`` objects; the binary
        encoding is the same, so the fingerprint is unchanged.
    """

    name: str
    full_name: str
    declared: Mapping[str, Any]
    canonical_form: str
    fingerprint: bytes
    parsed: dict[str, Any]
    wire: dict[str, Any]


def schema_names() -> tuple[str, ...]:
    """Names of every shipped schema, sorted.

    Returns
    -------
    tuple of str
        For example ``("ActionEvent", "Approval", ...)``.
    """
    return tuple(_by_name())


def schema_info(name: str) -> SchemaInfo:
    """The shipped schema called ``name``.

    Parameters
    ----------
    name
        Short record name such as ``"ActionEvent"``.

    Returns
    -------
    SchemaInfo

    Raises
    ------
    UnknownSchemaError
        When no ``<name>.avsc`` ships with Clearance.
    """
    try:
        return _by_name()[name]
    except KeyError:
        known = ", ".join(_by_name())
        raise UnknownSchemaError(
            f"no schema named {name!r}; use one of: {known} (case matters)"
        ) from None


def fingerprint(name: str) -> bytes:
    """CRC-64-AVRO fingerprint of a shipped schema, as it appears after ``C3 01`` on the wire.

    Parameters
    ----------
    name
        Short record name such as ``"ActionEvent"``.

    Returns
    -------
    bytes
        8 bytes, little-endian.
    """
    return schema_info(name).fingerprint


def schema_by_fingerprint(value: bytes) -> SchemaInfo | None:
    """The shipped schema with this fingerprint, or None when it is not one of ours.

    Parameters
    ----------
    value
        8-byte little-endian CRC-64-AVRO fingerprint.

    Returns
    -------
    SchemaInfo or None
    """
    return _by_fingerprint().get(bytes(value))


def _crc64_avro(canonical_form: str) -> bytes:
    """CRC-64-AVRO of a Parsing Canonical Form, as the 8 little-endian bytes of the wire."""
    # fastavro returns the hex of the little-endian bytes, the order single-object encoding uses.
    return bytes.fromhex(_fastavro_fingerprint(canonical_form, "CRC-64-AVRO"))


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def _load(file_name: str, text: str) -> SchemaInfo:
    where = f"{_PACKAGE}/{file_name}"
    try:
        declared = json.loads(text)
        # Each schema gets its own name table: the files repeat Principal and Resource.
        parsed = cast(dict[str, Any], fastavro.parse_schema(declared, named_schemas={}))
        wire = cast(
            dict[str, Any],
            fastavro.parse_schema(_without_logical_types(declared), named_schemas={}),
        )
    except (ValueError, TypeError, KeyError, AttributeError, SchemaParseException) as exc:
        raise UnknownSchemaError(f"{where}: not a valid Avro schema: {exc}") from exc
    stem = file_name[: -len(_SCHEMA_SUFFIX)]
    if not isinstance(declared, dict) or declared.get("type") != "record":
        raise UnknownSchemaError(f"{where}: top level must be a record schema")
    if not isinstance(declared.get("fields"), list):
        raise UnknownSchemaError(f"{where}: a record schema needs a list of fields")
    full_name = str(parsed["name"])
    if full_name.rpartition(".")[2] != stem:
        raise UnknownSchemaError(
            f"{where}: declares record {full_name!r}; rename the file or the record so they match"
        )
    canonical_form = to_parsing_canonical_form(declared)
    return SchemaInfo(
        name=stem,
        full_name=full_name,
        declared=MappingProxyType(declared),
        canonical_form=canonical_form,
        fingerprint=_crc64_avro(canonical_form),
        parsed=parsed,
        wire=wire,
    )


@functools.cache
def _by_name() -> dict[str, SchemaInfo]:
    files = [
        entry
        for entry in resources.files(_PACKAGE).iterdir()
        if entry.is_file() and entry.name.endswith(_SCHEMA_SUFFIX)
    ]
    loaded = [_load(entry.name, entry.read_text(encoding="utf-8")) for entry in files]
    return {info.name: info for info in sorted(loaded, key=lambda info: info.name)}


@functools.cache
def _by_fingerprint() -> dict[bytes, SchemaInfo]:
    table: dict[bytes, SchemaInfo] = {}
    for info in _by_name().values():
        clash = table.setdefault(info.fingerprint, info)
        if clash is not info:
            raise UnknownSchemaError(
                f"{info.name} and {clash.name} have the same fingerprint "
                f"{info.fingerprint.hex()}; two schemas must differ in structure"
            )
    return table
